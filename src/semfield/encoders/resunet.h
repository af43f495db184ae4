// An image encoder trained from scratch, as image-conditioned NeRFs use (IBRNet, GNeSF-2D): a small residual U-Net
// with instance normalisation that maps each source image to a feature map at 1/4 of its resolution.
//
//   stem   7x7 conv, stride 2, IN, ReLU               -> base        @ 1/2
//   block1 residual (two 3x3 convs, IN)               -> base        @ 1/2
//   block2 residual, stride 2                         -> 2 base      @ 1/4
//   block3 residual, stride 2                         -> 4 base      @ 1/8
//   up     block3 upsampled to block2's size, concatenated with it, 3x3 conv + IN + ReLU, 1x1 conv -> out @ 1/4
//
// Instance normalisation (not batch norm) keeps every image's features independent of the others in its batch,
// so a scene's source views give the same features whichever views they are batched with. A plain class over
// shared parameter tensors, like fields/mlp.h (no torch::nn, which costs compile time everywhere it is seen).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"

namespace semfield {

struct ResUNetConfig {
  int in_channels = 3;
  int base_channels = 32;
  int out_channels = 32;
};

class ResUNet {
 public:
  ResUNet() = default;
  /// Kaiming-normal convolutions (ReLU gain, fan-out) drawn from `seed`; norms start at identity (weight 1, bias 0).
  ResUNet(const ResUNetConfig& config, uint64_t seed);

  /// images [V, in_channels, H, W] (colours in [0,1]) -> features [V, out_channels, ceil(H/4), ceil(W/4)].
  at::Tensor forward(const at::Tensor& images) const;

  const ResUNetConfig& config() const { return m_config; }
  /// Every parameter, in a fixed order, with names ("stem.conv.weight", "block2.norm1.bias", ...).
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<at::Tensor> parameters() const;
  TensorMap state() const;
  /// Restores every parameter (same shapes); InputError(origin, name) for a missing or mismatched one.
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  struct Conv {
    at::Tensor weight, bias;
    int64_t stride = 1, padding = 0;
  };
  struct Norm {
    at::Tensor weight, bias;
  };
  struct Block {
    Conv conv1, conv2, shortcut;  ///< shortcut undefined when shapes match
    Norm norm1, norm2, norm_shortcut;
  };
  at::Tensor block_forward(const Block& block, const at::Tensor& x) const;

  ResUNetConfig m_config;
  Conv m_stem, m_up_conv, m_out_conv;
  Norm m_stem_norm, m_up_norm;
  Block m_block1, m_block2, m_block3;
};

}  // namespace semfield
