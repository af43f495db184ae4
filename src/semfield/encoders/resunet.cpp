// The residual U-Net image encoder.
#include "semfield/encoders/resunet.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"

namespace semfield {

ResUNet::ResUNet(const ResUNetConfig& config, uint64_t seed) : m_config(config) {
  if (config.in_channels < 1 || config.base_channels < 1 || config.out_channels < 1)
    fail_usage("encoder: channel counts must be positive (in {}, base {}, out {})", config.in_channels,
               config.base_channels, config.out_channels);
  conv::Init init(seed);
  const int64_t b = config.base_channels;
  m_stem = init.conv(b, config.in_channels, 7, 2);
  m_stem_norm = init.norm(b);
  m_block1 = init.block(b, b, 1);
  m_block2 = init.block(b, 2 * b, 2);
  m_block3 = init.block(2 * b, 4 * b, 2);
  m_up_conv = init.conv(2 * b, 6 * b, 3, 1);
  m_up_norm = init.norm(2 * b);
  m_out_conv = init.conv(config.out_channels, 2 * b, 1, 1, /*bias=*/true);
}

at::Tensor ResUNet::forward(const at::Tensor& images) const { return forward_stages(images).out; }

ResUNet::Stages ResUNet::forward_stages(const at::Tensor& images) const {
  SEMFIELD_ASSERT(images.dim() == 4 && images.size(1) == m_config.in_channels,
                  "encoder: expected images [V, in_channels, H, W]");
  // Centre the colours: the first convolution then sees zero-mean input.
  const at::Tensor x = images * 2.0f - 1.0f;
  Stages s;
  s.half = m_block1.forward(at::relu(m_stem_norm.forward(m_stem.forward(x))));
  s.quarter = m_block2.forward(s.half);
  s.eighth = m_block3.forward(s.quarter);
  const at::Tensor up = at::upsample_bilinear2d(s.eighth, {s.quarter.size(2), s.quarter.size(3)}, /*align_corners=*/false);
  const at::Tensor merged = at::relu(m_up_norm.forward(m_up_conv.forward(at::cat({up, s.quarter}, 1))));
  s.out = m_out_conv.forward(merged);
  return s;
}

std::vector<std::pair<std::string, at::Tensor>> ResUNet::named_parameters() const {
  conv::NamedTensors out;
  m_stem.add_to(out, "stem.conv");
  m_stem_norm.add_to(out, "stem.norm");
  m_block1.add_to(out, "block1");
  m_block2.add_to(out, "block2");
  m_block3.add_to(out, "block3");
  m_up_conv.add_to(out, "up.conv");
  m_up_norm.add_to(out, "up.norm");
  m_out_conv.add_to(out, "out.conv");
  return out;
}

std::vector<at::Tensor> ResUNet::parameters() const { return tensors_of(named_parameters()); }

TensorMap ResUNet::state() const { return state_of(named_parameters()); }

void ResUNet::load_state(const TensorMap& state, const std::string& origin) {
  restore_tensors(state, named_parameters(), origin);
}

}  // namespace semfield
