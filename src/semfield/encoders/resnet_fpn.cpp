// GP-NeRF's multi-scale feature extractor (resnet_fpn.h).
#include "semfield/encoders/resnet_fpn.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

ResNetFpn::ResNetFpn(const ResNetFpnConfig& config, uint64_t seed)
    : m_config(config), m_backbone(config.backbone, seed) {
  if (config.pyramid_channels < 1 || config.semantic_channels < 4 || config.semantic_channels % 4 != 0)
    fail_usage("feature pyramid: pyramid_channels must be positive and semantic_channels a positive multiple of 4 "
               "(got {}, {})", config.pyramid_channels, config.semantic_channels);
  conv::Init init(seed + 1);
  const int64_t b = config.backbone.base_channels, p = config.pyramid_channels, d = config.semantic_channels / 4;
  m_block4 = init.block(4 * b, 8 * b, 2);
  const int64_t widths[4] = {b, 2 * b, 4 * b, 8 * b};
  for (int i = 0; i < 4; ++i) {
    m_lateral[i] = init.conv(p, widths[i], 1, 1, /*bias=*/true);
    m_output[i] = init.conv(d, p, 3, 1);
    m_output_norm[i] = init.norm(d);
  }
}

ResNetFpn::Output ResNetFpn::forward(const at::Tensor& images) const {
  const ResUNet::Stages s = m_backbone.forward_stages(images);
  const at::Tensor c4 = m_block4.forward(s.eighth);
  const at::Tensor stages[4] = {s.half, s.quarter, s.eighth, c4};
  at::Tensor levels[4];
  for (int i = 3; i >= 0; --i) {
    levels[i] = m_lateral[i].forward(stages[i]);
    if (i < 3)
      levels[i] = levels[i] + at::upsample_bilinear2d(levels[i + 1], {levels[i].size(2), levels[i].size(3)},
                                                      /*align_corners=*/false);
  }
  const int64_t h = s.quarter.size(2), w = s.quarter.size(3);
  std::vector<at::Tensor> groups;
  for (int i = 0; i < 4; ++i) {
    at::Tensor o = m_output_norm[i].forward(m_output[i].forward(levels[i]));
    if (o.size(2) != h || o.size(3) != w) o = at::upsample_bilinear2d(o, {h, w}, /*align_corners=*/false);
    groups.push_back(o);
  }
  return {s.out, at::cat(groups, 1)};
}

std::vector<std::pair<std::string, at::Tensor>> ResNetFpn::named_parameters() const {
  conv::NamedTensors out;
  for (const auto& [name, t] : m_backbone.named_parameters()) out.emplace_back("backbone." + name, t);
  m_block4.add_to(out, "block4");
  for (int i = 0; i < 4; ++i) {
    m_lateral[i].add_to(out, "fpn.lateral" + std::to_string(i));
    m_output[i].add_to(out, "fpn.output" + std::to_string(i));
    m_output_norm[i].add_to(out, "fpn.norm" + std::to_string(i));
  }
  return out;
}

std::vector<at::Tensor> ResNetFpn::pyramid_parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : named_parameters())
    if (name.rfind("backbone.", 0) != 0) out.push_back(t);
  return out;
}

}  // namespace semfield
