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
#include "semfield/encoders/conv_layers.h"

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
  /// The same with the backbone's intermediate maps (what a feature pyramid over it reads: encoders/resnet_fpn.h).
  struct Stages {
    at::Tensor half;     ///< block1 [V, base, H/2, W/2]
    at::Tensor quarter;  ///< block2 [V, 2 base, H/4, W/4]
    at::Tensor eighth;   ///< block3 [V, 4 base, H/8, W/8]
    at::Tensor out;      ///< forward's result
  };
  Stages forward_stages(const at::Tensor& images) const;

  const ResUNetConfig& config() const { return m_config; }
  /// Every parameter, in a fixed order, with names ("stem.conv.weight", "block2.norm1.bias", ...).
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<at::Tensor> parameters() const;
  TensorMap state() const;
  /// Restores every parameter (same shapes); InputError(origin, name) for a missing or mismatched one.
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  ResUNetConfig m_config;
  conv::Conv m_stem, m_up_conv, m_out_conv;
  conv::Norm m_stem_norm, m_up_norm;
  conv::ResidualBlock m_block1, m_block2, m_block3;
};

}  // namespace semfield
