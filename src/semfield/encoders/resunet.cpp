// The residual U-Net image encoder.
#include "semfield/encoders/resunet.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"

namespace semfield {

namespace {

struct Init {
  at::Generator generator;
  at::Tensor conv(int64_t out, int64_t in, int64_t k) {
    // Kaiming normal, fan-out, ReLU gain (torchvision's ResNet initialisation).
    const double std = std::sqrt(2.0 / static_cast<double>(out * k * k));
    return at::normal(0.0, std, {out, in, k, k}, generator).set_requires_grad(true);
  }
};

at::Tensor norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return at::instance_norm(x, weight, bias, {}, {}, /*use_input_stats=*/true, 0.1, 1e-5, /*cudnn_enabled=*/false);
}

}  // namespace

ResUNet::ResUNet(const ResUNetConfig& config, uint64_t seed) : m_config(config) {
  if (config.in_channels < 1 || config.base_channels < 1 || config.out_channels < 1)
    fail_usage("encoder: channel counts must be positive (in {}, base {}, out {})", config.in_channels,
               config.base_channels, config.out_channels);
  Init init{at::make_generator<at::CPUGeneratorImpl>(seed)};
  const int64_t b = config.base_channels;
  auto conv = [&](int64_t out, int64_t in, int64_t k, int64_t stride, bool bias = false) {
    Conv c;
    c.weight = init.conv(out, in, k);
    if (bias) c.bias = at::zeros({out}).set_requires_grad(true);
    c.stride = stride;
    c.padding = k / 2;
    return c;
  };
  auto make_norm = [](int64_t channels) {
    return Norm{at::ones({channels}).set_requires_grad(true), at::zeros({channels}).set_requires_grad(true)};
  };
  auto block = [&](int64_t in, int64_t out, int64_t stride) {
    Block blk;
    blk.conv1 = conv(out, in, 3, stride);
    blk.norm1 = make_norm(out);
    blk.conv2 = conv(out, out, 3, 1);
    blk.norm2 = make_norm(out);
    if (stride != 1 || in != out) {
      blk.shortcut = conv(out, in, 1, stride);
      blk.norm_shortcut = make_norm(out);
    }
    return blk;
  };
  m_stem = conv(b, config.in_channels, 7, 2);
  m_stem_norm = make_norm(b);
  m_block1 = block(b, b, 1);
  m_block2 = block(b, 2 * b, 2);
  m_block3 = block(2 * b, 4 * b, 2);
  m_up_conv = conv(2 * b, 6 * b, 3, 1);
  m_up_norm = make_norm(2 * b);
  m_out_conv = conv(config.out_channels, 2 * b, 1, 1, /*bias=*/true);
}

at::Tensor ResUNet::block_forward(const Block& block, const at::Tensor& x) const {
  auto apply = [](const Conv& c, const at::Tensor& in) {
    return at::conv2d(in, c.weight, c.bias, {c.stride, c.stride}, {c.padding, c.padding});
  };
  at::Tensor y = at::relu(norm(apply(block.conv1, x), block.norm1.weight, block.norm1.bias));
  y = norm(apply(block.conv2, y), block.norm2.weight, block.norm2.bias);
  const at::Tensor skip =
      block.shortcut.weight.defined()
          ? norm(apply(block.shortcut, x), block.norm_shortcut.weight, block.norm_shortcut.bias)
          : x;
  return at::relu(y + skip);
}

at::Tensor ResUNet::forward(const at::Tensor& images) const {
  SEMFIELD_ASSERT(images.dim() == 4 && images.size(1) == m_config.in_channels,
                  "encoder: expected images [V, in_channels, H, W]");
  auto apply = [](const Conv& c, const at::Tensor& in) {
    return at::conv2d(in, c.weight, c.bias, {c.stride, c.stride}, {c.padding, c.padding});
  };
  // Centre the colours: the first convolution then sees zero-mean input.
  const at::Tensor x = images * 2.0f - 1.0f;
  const at::Tensor half = block_forward(m_block1, at::relu(norm(apply(m_stem, x), m_stem_norm.weight, m_stem_norm.bias)));
  const at::Tensor quarter = block_forward(m_block2, half);
  const at::Tensor eighth = block_forward(m_block3, quarter);
  const at::Tensor up = at::upsample_bilinear2d(eighth, {quarter.size(2), quarter.size(3)}, /*align_corners=*/false);
  const at::Tensor merged =
      at::relu(norm(apply(m_up_conv, at::cat({up, quarter}, 1)), m_up_norm.weight, m_up_norm.bias));
  return apply(m_out_conv, merged);
}

std::vector<std::pair<std::string, at::Tensor>> ResUNet::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add_conv = [&](const std::string& name, const Conv& c) {
    out.emplace_back(name + ".weight", c.weight);
    if (c.bias.defined()) out.emplace_back(name + ".bias", c.bias);
  };
  auto add_norm = [&](const std::string& name, const Norm& n) {
    out.emplace_back(name + ".weight", n.weight);
    out.emplace_back(name + ".bias", n.bias);
  };
  auto add_block = [&](const std::string& name, const Block& blk) {
    add_conv(name + ".conv1", blk.conv1);
    add_norm(name + ".norm1", blk.norm1);
    add_conv(name + ".conv2", blk.conv2);
    add_norm(name + ".norm2", blk.norm2);
    if (blk.shortcut.weight.defined()) {
      add_conv(name + ".shortcut", blk.shortcut);
      add_norm(name + ".norm_shortcut", blk.norm_shortcut);
    }
  };
  add_conv("stem.conv", m_stem);
  add_norm("stem.norm", m_stem_norm);
  add_block("block1", m_block1);
  add_block("block2", m_block2);
  add_block("block3", m_block3);
  add_conv("up.conv", m_up_conv);
  add_norm("up.norm", m_up_norm);
  add_conv("out.conv", m_out_conv);
  return out;
}

std::vector<at::Tensor> ResUNet::parameters() const { return tensors_of(named_parameters()); }

TensorMap ResUNet::state() const { return state_of(named_parameters()); }

void ResUNet::load_state(const TensorMap& state, const std::string& origin) {
  restore_tensors(state, named_parameters(), origin);
}

}  // namespace semfield
