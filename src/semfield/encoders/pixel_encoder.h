// pixelNeRF's image encoder, scaled to a CPU (FeatureNeRF §3.1, ../shared/papers/featurenerf-*.txt; pixelNeRF's
// ResNet-34 is the reference): a ResNet whose first stages' outputs are upsampled to the stem's resolution and
// concatenated, so a pixel's feature holds low-level detail and wider context at once.
//
//   stem     7x7 conv stride 2, IN, ReLU                    -> c0 @ 1/2    (feature 0)
//   layer1   3x3 max-pool stride 2, blocks[0] residual blocks -> c1 @ 1/4  (feature 1)
//   layer2   blocks[1] residual blocks, the first stride 2    -> c2 @ 1/8  (feature 2)
//   layer3   blocks[2] residual blocks, the first stride 2    -> c3 @ 1/16 (feature 3)
//   out      features 0..3 bilinearly upsampled to 1/2 (align_corners, as pixelNeRF) and concatenated: c0+c1+c2+c3
//
// Trained from scratch with instance normalisation (no ImageNet weights can be downloaded here; instance norm keeps an
// image's features independent of what it is batched with). Input colours in [0,1] are mapped to [-1,1] (as the
// authors' code). The default widths 32/32/64/128 give 256 channels at 64 x 64 for a 128^2 image (ResNet-34's
// 64/64/128/256 -> 512).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/encoders/conv_layers.h"

namespace semfield {

struct PixelEncoderConfig {
  std::vector<int64_t> channels = std::vector<int64_t>(kDefaultChannels, kDefaultChannels + 4);  ///< c0..c3
  std::vector<int64_t> blocks = std::vector<int64_t>(3, 2);  ///< residual blocks of layer1..layer3
  static constexpr int64_t kDefaultChannels[4] = {32, 32, 64, 128};
  int64_t out_channels() const;
  void validate() const;  ///< UsageError naming the key
};

class PixelEncoder {
 public:
  PixelEncoder() = default;
  PixelEncoder(const PixelEncoderConfig& config, uint64_t seed);
  /// images [V,3,H,W] in [0,1] -> [V, out_channels, ceil(H/2), ceil(W/2)].
  at::Tensor forward(const at::Tensor& images) const;
  const PixelEncoderConfig& config() const { return m_config; }
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  PixelEncoderConfig m_config;
  conv::Conv m_stem;
  conv::Norm m_stem_norm;
  std::vector<std::vector<conv::ResidualBlock>> m_layers;
};

}  // namespace semfield
