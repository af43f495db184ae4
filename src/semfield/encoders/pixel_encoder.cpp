// pixelNeRF-style multi-layer image encoder (pixel_encoder.h).
#include "semfield/encoders/pixel_encoder.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

int64_t PixelEncoderConfig::out_channels() const {
  int64_t sum = 0;
  for (int64_t c : channels) sum += c;
  return sum;
}

void PixelEncoderConfig::validate() const {
  if (channels.size() != 4) fail_usage("encoder.channels: expected 4 widths (stem, layer1, layer2, layer3)");
  if (blocks.size() != 3) fail_usage("encoder.blocks: expected 3 block counts (layer1, layer2, layer3)");
  for (int64_t c : channels)
    if (c < 1 || c > 1024) fail_usage("encoder.channels: widths must be in 1..1024");
  for (int64_t b : blocks)
    if (b < 1 || b > 8) fail_usage("encoder.blocks: counts must be in 1..8");
}

PixelEncoder::PixelEncoder(const PixelEncoderConfig& config, uint64_t seed) : m_config(config) {
  config.validate();
  conv::Init init(seed);
  const auto& c = config.channels;
  m_stem = init.conv(c[0], 3, 7, 2);
  m_stem_norm = init.norm(c[0]);
  for (size_t l = 0; l < 3; ++l) {
    std::vector<conv::ResidualBlock> layer;
    for (int64_t b = 0; b < config.blocks[l]; ++b) {
      const int64_t in = b == 0 ? c[l] : c[l + 1];
      const int64_t stride = (b == 0 && l > 0) ? 2 : 1;
      layer.push_back(init.block(in, c[l + 1], stride));
    }
    m_layers.push_back(std::move(layer));
  }
}

at::Tensor PixelEncoder::forward(const at::Tensor& images) const {
  SEMFIELD_ASSERT(images.dim() == 4 && images.size(1) == 3, "pixel encoder: expected images [V,3,H,W]");
  at::Tensor x = at::relu(m_stem_norm.forward(m_stem.forward(images * 2.0f - 1.0f)));
  std::vector<at::Tensor> stages{x};
  x = at::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  for (const auto& layer : m_layers) {
    for (const auto& block : layer) x = block.forward(x);
    stages.push_back(x);
  }
  const int64_t h = stages[0].size(2), w = stages[0].size(3);
  for (size_t k = 1; k < stages.size(); ++k)
    stages[k] = at::upsample_bilinear2d(stages[k], {h, w}, /*align_corners=*/true);
  return at::cat(stages, 1);
}

std::vector<std::pair<std::string, at::Tensor>> PixelEncoder::named_parameters() const {
  conv::NamedTensors out;
  m_stem.add_to(out, "stem.conv");
  m_stem_norm.add_to(out, "stem.norm");
  for (size_t l = 0; l < m_layers.size(); ++l)
    for (size_t b = 0; b < m_layers[l].size(); ++b)
      m_layers[l][b].add_to(out, "layer" + std::to_string(l + 1) + "." + std::to_string(b));
  return out;
}

}  // namespace semfield
