// The convolutional building blocks of the image encoders (resunet.h, resnet_fpn.h): convolutions with Kaiming
// initialisation from a seeded generator, instance normalisation, residual blocks. Plain structs over parameter
// tensors, like fields/mlp.h.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace semfield::conv {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct Conv {
  at::Tensor weight, bias;  ///< [out, in, k, k], [out] (bias optional)
  int64_t stride = 1, padding = 0;
  at::Tensor forward(const at::Tensor& x) const;
  void add_to(NamedTensors& out, const std::string& name) const;
};

/// Instance normalisation with a learned affine (weight starts at 1, bias at 0).
struct Norm {
  at::Tensor weight, bias;
  at::Tensor forward(const at::Tensor& x) const;
  void add_to(NamedTensors& out, const std::string& name) const;
};

/// Two 3x3 convolutions with instance norms, ReLU between; a 1x1 convolution + norm on the skip when the shape changes.
struct ResidualBlock {
  Conv conv1, conv2, shortcut;  ///< shortcut undefined when shapes match
  Norm norm1, norm2, norm_shortcut;
  at::Tensor forward(const at::Tensor& x) const;
  void add_to(NamedTensors& out, const std::string& name) const;
};

/// Seeded initialisation of the blocks above.
class Init {
 public:
  explicit Init(uint64_t seed);
  /// Kaiming normal, fan-out, ReLU gain (torchvision's ResNet initialisation); `bias`: zero bias.
  Conv conv(int64_t out, int64_t in, int64_t k, int64_t stride, bool bias = false);
  Norm norm(int64_t channels);
  ResidualBlock block(int64_t in, int64_t out, int64_t stride);

 private:
  at::Generator m_generator;
};

}  // namespace semfield::conv
