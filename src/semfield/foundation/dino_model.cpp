// DINO ViT forward pass.
#include "semfield/foundation/dino_model.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/checkpoint_naming.h"
#include "semfield/foundation/model_files.h"
#include "semfield/foundation/torch_checkpoint.h"

namespace semfield::foundation {

at::Tensor DinoOutput::patch_grid() const {
  return tokens.narrow(1, 1, grid_height * grid_width).reshape({tokens.size(0), grid_height, grid_width, tokens.size(2)});
}

DinoModel::DinoModel(DinoConfig config) : m_config(std::move(config)) {
  const int64_t c = m_config.embed_dim, p = m_config.patch_size, n = m_config.grid() * m_config.grid();
  m_cls_token = m_weights.add("cls_token", {1, 1, c});
  m_pos_embed = m_weights.add("pos_embed", {1, n + 1, c});
  m_patch_weight = m_weights.add("patch_embed.proj.weight", {c, 3, p, p});
  m_patch_bias = m_weights.add("patch_embed.proj.bias", {c});
  for (int64_t i = 0; i < m_config.depth; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    Block blk;
    blk.w.norm1_weight = m_weights.add(b + "norm1.weight", {c});
    blk.w.norm1_bias = m_weights.add(b + "norm1.bias", {c});
    blk.w.qkv_weight = m_weights.add(b + "attn.qkv.weight", {3 * c, c});
    if (m_config.qkv_bias) blk.w.qkv_bias = m_weights.add(b + "attn.qkv.bias", {3 * c});
    blk.w.proj_weight = m_weights.add(b + "attn.proj.weight", {c, c});
    blk.w.proj_bias = m_weights.add(b + "attn.proj.bias", {c});
    blk.w.norm2_weight = m_weights.add(b + "norm2.weight", {c});
    blk.w.norm2_bias = m_weights.add(b + "norm2.bias", {c});
    blk.w.fc1_weight = m_weights.add(b + "mlp.fc1.weight", {m_config.mlp_hidden(), c});
    blk.w.fc1_bias = m_weights.add(b + "mlp.fc1.bias", {m_config.mlp_hidden()});
    blk.w.fc2_weight = m_weights.add(b + "mlp.fc2.weight", {c, m_config.mlp_hidden()});
    blk.w.fc2_bias = m_weights.add(b + "mlp.fc2.bias", {c});
    m_blocks.push_back(blk);
  }
  m_norm_weight = m_weights.add("norm.weight", {c});
  m_norm_bias = m_weights.add("norm.bias", {c});
}

DinoModel DinoModel::load(const std::filesystem::path& path) {
  const ModelFiles files = locate_model_files(path);
  const TensorMap tensors = dino_reference_names(load_weight_file(files.weights), files.weights);
  DinoModel model(dino_config_for(tensors, files.config, files.weights));
  model.m_weights.bind(tensors, files.weights, model.m_config.describe());
  return model;
}

at::Tensor DinoModel::interpolate_pos_encoding(int64_t height, int64_t width) const {
  const int64_t p = m_config.patch_size;
  const int64_t h0 = height / p, w0 = width / p;
  const int64_t n = m_pos_embed.size(1) - 1;
  if (h0 * w0 == n && height == width) return m_pos_embed;
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  const int64_t c = m_pos_embed.size(2);
  const at::Tensor grid = m_pos_embed.narrow(1, 1, n).reshape({1, side, side, c}).permute({0, 3, 1, 2});
  // The reference adds 0.1 to avoid floating point error in the output size and passes scale factors, which
  // torch then also uses to map output to input coordinates.
  const double fh = (static_cast<double>(h0) + 0.1) / static_cast<double>(side);
  const double fw = (static_cast<double>(w0) + 0.1) / static_cast<double>(side);
  const auto out_h = static_cast<int64_t>(std::floor(static_cast<double>(side) * fh));
  const auto out_w = static_cast<int64_t>(std::floor(static_cast<double>(side) * fw));
  SEMFIELD_ASSERT(out_h == h0 && out_w == w0, "interpolated position grid has the patch grid's size");
  const at::Tensor resized = at::upsample_bicubic2d(grid, {out_h, out_w}, false, fh, fw);
  const at::Tensor patches = resized.permute({0, 2, 3, 1}).reshape({1, out_h * out_w, c});
  return at::cat({m_pos_embed.narrow(1, 0, 1), patches}, 1);
}

at::Tensor DinoModel::prepare_tokens(const at::Tensor& images, int64_t* grid_h, int64_t* grid_w) const {
  if (images.dim() != 4 || images.size(1) != 3) fail_usage("DINO expects images [B, 3, H, W]");
  const int64_t p = m_config.patch_size;
  if (images.size(2) < p || images.size(3) < p)
    fail_usage("image {}x{} is smaller than one {}-pixel patch", images.size(3), images.size(2), p);
  const int64_t b = images.size(0);
  const at::Tensor x = at::conv2d(images, m_patch_weight, m_patch_bias, {p, p});
  const int64_t h = x.size(2), w = x.size(3);
  if (grid_h) *grid_h = h;
  if (grid_w) *grid_w = w;
  const at::Tensor patches = x.flatten(2).transpose(1, 2);
  const at::Tensor tokens = at::cat({m_cls_token.expand({b, 1, -1}), patches}, 1);
  return tokens + interpolate_pos_encoding(images.size(2), images.size(3));
}

DinoOutput DinoModel::forward(const at::Tensor& images, bool keep_blocks, bool last_attention) const {
  DinoOutput out;
  at::Tensor x = prepare_tokens(images, &out.grid_height, &out.grid_width);
  if (keep_blocks) out.blocks.push_back(x);
  PreNormBlockOptions options;
  options.heads = m_config.num_heads;
  options.eps = m_config.layer_norm_eps;
  options.activation = Activation::Gelu;
  options.attention.scale_mode = ScaleMode::MultiplyLogits;
  options.attention.scale = std::pow(static_cast<double>(m_config.embed_dim / m_config.num_heads), -0.5);
  for (size_t i = 0; i < m_blocks.size(); ++i) {
    PreNormBlockOptions o = options;
    at::Tensor probs;
    if (last_attention && i + 1 == m_blocks.size()) o.attention.probabilities = &probs;
    x = pre_norm_block(x, m_blocks[i].w, o);
    if (probs.defined())
      out.last_attention = probs.view({images.size(0), m_config.num_heads, probs.size(1), probs.size(2)});
    if (keep_blocks) out.blocks.push_back(x);
  }
  out.tokens = at::layer_norm(x, {m_config.embed_dim}, m_norm_weight, m_norm_bias, m_config.layer_norm_eps);
  return out;
}

at::Tensor DinoModel::block_keys(const at::Tensor& images, int64_t block, int64_t* grid_h, int64_t* grid_w) const {
  if (block < 0 || block >= depth())
    fail_usage("dino: block {} does not exist (the model has blocks 0..{})", block, depth() - 1);
  at::Tensor x = prepare_tokens(images, grid_h, grid_w);
  PreNormBlockOptions options;
  options.heads = m_config.num_heads;
  options.eps = m_config.layer_norm_eps;
  options.activation = Activation::Gelu;
  options.attention.scale_mode = ScaleMode::MultiplyLogits;
  options.attention.scale = std::pow(static_cast<double>(m_config.embed_dim / m_config.num_heads), -0.5);
  for (int64_t i = 0; i < block; ++i) x = pre_norm_block(x, m_blocks[static_cast<size_t>(i)].w, options);
  const PreNormBlockWeights& w = m_blocks[static_cast<size_t>(block)].w;
  const int64_t c = m_config.embed_dim;
  const at::Tensor h = at::layer_norm(x, {c}, w.norm1_weight, w.norm1_bias, m_config.layer_norm_eps);
  return at::linear(h, w.qkv_weight.narrow(0, c, c), w.qkv_bias.defined() ? w.qkv_bias.narrow(0, c, c) : at::Tensor());
}

at::Tensor DinoModel::normalize(const at::Tensor& rgb) const {
  if (rgb.dim() != 3 || rgb.size(2) != 3) fail_usage("expected an RGB image [H, W, 3]");
  const at::Tensor mean = at::tensor(std::vector<float>(m_config.image_mean.begin(), m_config.image_mean.end()));
  const at::Tensor stdv = at::tensor(std::vector<float>(m_config.image_std.begin(), m_config.image_std.end()));
  return ((rgb.to(at::kFloat) - mean) / stdv).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace semfield::foundation
