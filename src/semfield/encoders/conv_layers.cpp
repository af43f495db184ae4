// Convolutional building blocks of the image encoders (conv_layers.h).
#include "semfield/encoders/conv_layers.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace semfield::conv {

at::Tensor Conv::forward(const at::Tensor& x) const {
  return at::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

void Conv::add_to(NamedTensors& out, const std::string& name) const {
  out.emplace_back(name + ".weight", weight);
  if (bias.defined()) out.emplace_back(name + ".bias", bias);
}

at::Tensor Norm::forward(const at::Tensor& x) const {
  return at::instance_norm(x, weight, bias, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
}

void Norm::add_to(NamedTensors& out, const std::string& name) const {
  out.emplace_back(name + ".weight", weight);
  out.emplace_back(name + ".bias", bias);
}

at::Tensor ResidualBlock::forward(const at::Tensor& x) const {
  at::Tensor y = at::relu(norm1.forward(conv1.forward(x)));
  y = norm2.forward(conv2.forward(y));
  const at::Tensor skip = shortcut.weight.defined() ? norm_shortcut.forward(shortcut.forward(x)) : x;
  return at::relu(y + skip);
}

void ResidualBlock::add_to(NamedTensors& out, const std::string& name) const {
  conv1.add_to(out, name + ".conv1");
  norm1.add_to(out, name + ".norm1");
  conv2.add_to(out, name + ".conv2");
  norm2.add_to(out, name + ".norm2");
  if (shortcut.weight.defined()) {
    shortcut.add_to(out, name + ".shortcut");
    norm_shortcut.add_to(out, name + ".norm_shortcut");
  }
}

Init::Init(uint64_t seed) : m_generator(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

Conv Init::conv(int64_t out, int64_t in, int64_t k, int64_t stride, bool bias) {
  Conv c;
  const double std = std::sqrt(2.0 / static_cast<double>(out * k * k));
  c.weight = at::normal(0.0, std, {out, in, k, k}, m_generator).set_requires_grad(true);
  if (bias) c.bias = at::zeros({out}).set_requires_grad(true);
  c.stride = stride;
  c.padding = k / 2;
  return c;
}

Norm Init::norm(int64_t channels) {
  return Norm{at::ones({channels}).set_requires_grad(true), at::zeros({channels}).set_requires_grad(true)};
}

ResidualBlock Init::block(int64_t in, int64_t out, int64_t stride) {
  ResidualBlock blk;
  blk.conv1 = conv(out, in, 3, stride);
  blk.norm1 = norm(out);
  blk.conv2 = conv(out, out, 3, 1);
  blk.norm2 = norm(out);
  if (stride != 1 || in != out) {
    blk.shortcut = conv(out, in, 1, stride);
    blk.norm_shortcut = norm(out);
  }
  return blk;
}

}  // namespace semfield::conv
