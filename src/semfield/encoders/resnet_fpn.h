// GP-NeRF's multi-scale feature extractor (../shared/papers/gp-nerf-*.txt §4.1), sized for a CPU: the residual U-Net
// of the image-conditioned models (resunet.h: a ResNet stem and three residual stages with one top-down merge) gives
// the low-level radiance features F_rgb at 1/4 resolution, and a feature pyramid (FPN) over its stages plus a fourth
// stage gives the semantic features F_sem:
//
//   backbone   ResUNet: block1 @1/2 (b), block2 @1/4 (2b), block3 @1/8 (4b); its output          -> F_rgb @1/4
//   block4     residual, stride 2                                                               -> 8b    @1/16
//   lateral    1x1 conv of each stage to the pyramid width P
//   top-down   p4 = l4, p_i = l_i + upsample(p_{i+1})
//   output     3x3 conv + instance norm of each level to D/4 channels (signed: cosine losses can push features
//              apart), resampled to 1/4 and concatenated
//              (finest level first)                                                            -> F_sem @1/4, D
//
// The four channel groups of F_sem are the four pyramid levels: the perception head (models/gpnerf) splits the
// rendered semantic map the same way. Sharing the backbone with the ibr model lets a trained ibr encoder start it
// (`train-corpus --init`).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/encoders/conv_layers.h"
#include "semfield/encoders/resunet.h"

namespace semfield {

struct ResNetFpnConfig {
  ResUNetConfig backbone{3, 16, 16};  ///< F_rgb has backbone.out_channels channels
  int pyramid_channels = 32;          ///< P: the lateral and top-down width
  int semantic_channels = 64;         ///< D: F_sem's channels (a multiple of 4: one group per level)
};

class ResNetFpn {
 public:
  struct Output {
    at::Tensor rgb;       ///< [V, backbone.out_channels, ceil(H/4), ceil(W/4)]
    at::Tensor semantic;  ///< [V, semantic_channels, ceil(H/4), ceil(W/4)]
  };

  ResNetFpn() = default;
  /// Seeded initialisation (the backbone from `seed` as a ResUNet of that seed, the pyramid from seed + 1).
  ResNetFpn(const ResNetFpnConfig& config, uint64_t seed);

  /// images [V,3,H,W] in [0,1].
  Output forward(const at::Tensor& images) const;

  const ResNetFpnConfig& config() const { return m_config; }
  const ResUNet& backbone() const { return m_backbone; }
  ResUNet& backbone() { return m_backbone; }
  /// "backbone.*" (the ResUNet's names), "block4.*", "fpn.*".
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  /// The pyramid's parameters alone (block4 and fpn), and the backbone's.
  std::vector<at::Tensor> pyramid_parameters() const;

 private:
  ResNetFpnConfig m_config;
  ResUNet m_backbone;
  conv::ResidualBlock m_block4;
  conv::Conv m_lateral[4], m_output[4];
  conv::Norm m_output_norm[4];
};

}  // namespace semfield
