// CLIP forward passes.
#include "semfield/foundation/clip_model.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/checkpoint_naming.h"
#include "semfield/foundation/model_files.h"
#include "semfield/foundation/pil_resize.h"
#include "semfield/foundation/torch_checkpoint.h"

namespace semfield::foundation {

namespace fs = std::filesystem;

ClipModel::ClipModel(ClipConfig config) : m_config(std::move(config)) {
  const ClipConfig& c = m_config;
  const int64_t vw = c.vision_width, g = c.grid(), p = c.vision_patch_size;
  m_text_pos = m_weights.add("positional_embedding", {c.context_length, c.transformer_width});
  m_text_projection = m_weights.add("text_projection", {c.transformer_width, c.embed_dim});
  m_logit_scale = m_weights.add("logit_scale", {});
  m_class_embedding = m_weights.add("visual.class_embedding", {vw});
  m_visual_pos = m_weights.add("visual.positional_embedding", {g * g + 1, vw});
  m_visual_proj = m_weights.add("visual.proj", {vw, c.embed_dim});
  m_conv1 = m_weights.add("visual.conv1.weight", {vw, 3, p, p});
  m_ln_pre_w = m_weights.add("visual.ln_pre.weight", {vw});
  m_ln_pre_b = m_weights.add("visual.ln_pre.bias", {vw});
  m_visual_blocks = declare_tower("visual.transformer.resblocks.", vw, c.vision_layers);
  m_ln_post_w = m_weights.add("visual.ln_post.weight", {vw});
  m_ln_post_b = m_weights.add("visual.ln_post.bias", {vw});
  m_text_blocks = declare_tower("transformer.resblocks.", c.transformer_width, c.transformer_layers);
  m_token_embedding = m_weights.add("token_embedding.weight", {c.vocab_size, c.transformer_width});
  m_ln_final_w = m_weights.add("ln_final.weight", {c.transformer_width});
  m_ln_final_b = m_weights.add("ln_final.bias", {c.transformer_width});
}

std::vector<PreNormBlockWeights> ClipModel::declare_tower(const std::string& prefix, int64_t width, int64_t layers) {
  std::vector<PreNormBlockWeights> blocks;
  for (int64_t i = 0; i < layers; ++i) {
    const std::string b = prefix + std::to_string(i) + ".";
    PreNormBlockWeights w;
    w.qkv_weight = m_weights.add(b + "attn.in_proj_weight", {3 * width, width});
    w.qkv_bias = m_weights.add(b + "attn.in_proj_bias", {3 * width});
    w.proj_weight = m_weights.add(b + "attn.out_proj.weight", {width, width});
    w.proj_bias = m_weights.add(b + "attn.out_proj.bias", {width});
    w.norm1_weight = m_weights.add(b + "ln_1.weight", {width});
    w.norm1_bias = m_weights.add(b + "ln_1.bias", {width});
    w.fc1_weight = m_weights.add(b + "mlp.c_fc.weight", {4 * width, width});
    w.fc1_bias = m_weights.add(b + "mlp.c_fc.bias", {4 * width});
    w.fc2_weight = m_weights.add(b + "mlp.c_proj.weight", {width, 4 * width});
    w.fc2_bias = m_weights.add(b + "mlp.c_proj.bias", {width});
    w.norm2_weight = m_weights.add(b + "ln_2.weight", {width});
    w.norm2_bias = m_weights.add(b + "ln_2.bias", {width});
    blocks.push_back(w);
  }
  return blocks;
}

ClipModel ClipModel::load(const fs::path& path) {
  const ModelFiles files = locate_model_files(path);
  const TensorMap tensors = clip_reference_names(load_weight_file(files.weights), files.weights);
  ClipModel model(clip_config_for(tensors, files.config, files.weights));
  model.m_weights.bind(tensors, files.weights, model.m_config.describe());
  const bool gz = fs::is_regular_file(files.directory / "bpe_simple_vocab_16e6.txt.gz");
  const bool hf = fs::is_regular_file(files.directory / "vocab.json") && fs::is_regular_file(files.directory / "merges.txt");
  if (gz || hf) model.m_tokenizer = std::make_shared<const ClipTokenizer>(ClipTokenizer::find_in(files.directory));
  return model;
}

const ClipTokenizer& ClipModel::tokenizer() const {
  if (!m_tokenizer)
    fail_usage("no CLIP tokenizer: put bpe_simple_vocab_16e6.txt.gz (or vocab.json and merges.txt) beside the weights");
  return *m_tokenizer;
}

at::Tensor ClipModel::position_table(int64_t grid_h, int64_t grid_w) const {
  const int64_t g = m_config.grid();
  if (grid_h == g && grid_w == g) return m_visual_pos;
  const int64_t w = m_visual_pos.size(1);
  const at::Tensor grid = m_visual_pos.narrow(0, 1, g * g).reshape({1, g, g, w}).permute({0, 3, 1, 2});
  const at::Tensor resized = at::upsample_bicubic2d(grid, {grid_h, grid_w}, false);
  return at::cat({m_visual_pos.narrow(0, 0, 1), resized.permute({0, 2, 3, 1}).reshape({grid_h * grid_w, w})}, 0);
}

ClipImageOutput ClipModel::encode_image(const at::Tensor& images, bool dense, bool keep_intermediates,
                                        ClipDense dense_mode) const {
  const int64_t p = m_config.vision_patch_size, vw = m_config.vision_width;
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) % p != 0 || images.size(3) % p != 0 ||
      images.size(2) == 0 || images.size(3) == 0)
    fail_usage("CLIP expects images [B, 3, H, W] with H and W multiples of {}", p);
  ClipImageOutput out;
  const int64_t b = images.size(0);
  const at::Tensor patches = at::conv2d(images, m_conv1, {}, {p, p});
  out.grid_height = patches.size(2);
  out.grid_width = patches.size(3);
  if (keep_intermediates) out.conv1 = patches;
  at::Tensor x = patches.reshape({b, vw, -1}).permute({0, 2, 1});
  x = at::cat({m_class_embedding.view({1, 1, vw}).expand({b, 1, vw}), x}, 1);
  x = x + position_table(out.grid_height, out.grid_width);
  x = at::layer_norm(x, {vw}, m_ln_pre_w, m_ln_pre_b, m_config.layer_norm_eps);
  if (keep_intermediates) out.blocks.push_back(x);
  PreNormBlockOptions options;
  options.heads = m_config.vision_heads;
  options.eps = m_config.layer_norm_eps;
  options.activation = m_config.quick_gelu ? Activation::QuickGelu : Activation::Gelu;
  options.attention.scale_mode = ScaleMode::DivideQuery;
  options.attention.scale = std::sqrt(static_cast<double>(vw / m_config.vision_heads));
  at::Tensor last_input;
  for (size_t i = 0; i < m_visual_blocks.size(); ++i) {
    if (i + 1 == m_visual_blocks.size()) last_input = x;
    x = pre_norm_block(x, m_visual_blocks[i], options);
    if (keep_intermediates) out.blocks.push_back(x);
  }
  out.embedding = at::matmul(at::layer_norm(x.select(1, 0), {vw}, m_ln_post_w, m_ln_post_b, m_config.layer_norm_eps),
                             m_visual_proj);
  if (dense && dense_mode == ClipDense::Sclip) {
    // SCLIP (Wang et al. 2024) as Laser uses it: the last block's attention replaced by the sum of the query-query
    // and key-key softmaxes (per head, scale 1/sqrt(head dim)) applied to the values; residual and MLP kept.
    const PreNormBlockWeights& w = m_visual_blocks.back();
    const int64_t heads = m_config.vision_heads, dh = vw / heads, n = last_input.size(1);
    const at::Tensor y = at::layer_norm(last_input, {vw}, w.norm1_weight, w.norm1_bias, m_config.layer_norm_eps);
    const at::Tensor qkv = at::linear(y, w.qkv_weight, w.qkv_bias).view({b, n, 3, heads, dh}).permute({2, 0, 3, 1, 4});
    const at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // [B, heads, N, dh]
    const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
    const at::Tensor attention = at::softmax(at::matmul(q, q.transpose(-1, -2)) * scale, -1) +
                                 at::softmax(at::matmul(k, k.transpose(-1, -2)) * scale, -1);
    const at::Tensor mixed = at::matmul(attention, v).permute({0, 2, 1, 3}).reshape({b, n, vw});
    at::Tensor z = last_input + at::linear(mixed, w.proj_weight, w.proj_bias);
    at::Tensor hidden = at::linear(at::layer_norm(z, {vw}, w.norm2_weight, w.norm2_bias, m_config.layer_norm_eps),
                                   w.fc1_weight, w.fc1_bias);
    hidden = m_config.quick_gelu ? hidden * at::sigmoid(1.702 * hidden) : at::gelu(hidden);
    z = z + at::linear(hidden, w.fc2_weight, w.fc2_bias);
    out.dense = at::matmul(at::layer_norm(z.narrow(1, 1, n - 1), {vw}, m_ln_post_w, m_ln_post_b, m_config.layer_norm_eps),
                           m_visual_proj);
  } else if (dense) {
    // MaskCLIP: the last block's value path alone (no residual, no MLP, no token mixing), per patch token.
    const PreNormBlockWeights& w = m_visual_blocks.back();
    const at::Tensor y = at::layer_norm(last_input.narrow(1, 1, last_input.size(1) - 1), {vw}, w.norm1_weight,
                                        w.norm1_bias, m_config.layer_norm_eps);
    const at::Tensor v = at::linear(y, w.qkv_weight.narrow(0, 2 * vw, vw), w.qkv_bias.narrow(0, 2 * vw, vw));
    const at::Tensor o = at::linear(v, w.proj_weight, w.proj_bias);
    out.dense = at::matmul(at::layer_norm(o, {vw}, m_ln_post_w, m_ln_post_b, m_config.layer_norm_eps), m_visual_proj);
  }
  return out;
}

ClipTextOutput ClipModel::encode_text(const at::Tensor& tokens, bool keep_intermediates) const {
  const ClipConfig& c = m_config;
  if (tokens.dim() != 2 || tokens.size(1) != c.context_length || tokens.scalar_type() != at::kLong)
    fail_usage("CLIP text expects int64 tokens [N, {}]", c.context_length);
  if (tokens.numel() > 0 && (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= c.vocab_size))
    fail_usage("token ids must lie in [0, {})", c.vocab_size);
  ClipTextOutput out;
  at::Tensor x = at::embedding(m_token_embedding, tokens) + m_text_pos;
  if (keep_intermediates) out.blocks.push_back(x);
  PreNormBlockOptions options;
  options.heads = c.transformer_heads;
  options.eps = c.layer_norm_eps;
  options.activation = c.quick_gelu ? Activation::QuickGelu : Activation::Gelu;
  options.attention.scale_mode = ScaleMode::DivideQuery;
  options.attention.scale = std::sqrt(static_cast<double>(c.transformer_width / c.transformer_heads));
  options.attention.mask = at::full({c.context_length, c.context_length}, -INFINITY, at::kFloat).triu_(1);
  for (const PreNormBlockWeights& w : m_text_blocks) {
    x = pre_norm_block(x, w, options);
    if (keep_intermediates) out.blocks.push_back(x);
  }
  x = at::layer_norm(x, {c.transformer_width}, m_ln_final_w, m_ln_final_b, c.layer_norm_eps);
  const at::Tensor eot = tokens.argmax(-1);
  out.embedding = at::matmul(x.index({at::arange(x.size(0)), eot}), m_text_projection);
  return out;
}

at::Tensor ClipModel::logits_per_image(const at::Tensor& image_embeddings, const at::Tensor& text_embeddings) const {
  const at::Tensor i = image_embeddings / image_embeddings.norm(2, -1, true);
  const at::Tensor t = text_embeddings / text_embeddings.norm(2, -1, true);
  return m_logit_scale.exp() * at::matmul(i, t.t());
}

at::Tensor ClipModel::normalize(const at::Tensor& rgb) const {
  if (rgb.dim() != 3 || rgb.size(2) != 3) fail_usage("expected an RGB image [H, W, 3]");
  const at::Tensor mean = at::tensor(std::vector<float>(m_config.image_mean.begin(), m_config.image_mean.end()));
  const at::Tensor stdv = at::tensor(std::vector<float>(m_config.image_std.begin(), m_config.image_std.end()));
  return ((rgb.to(at::kFloat) - mean) / stdv).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

at::Tensor ClipModel::preprocess(const at::Tensor& rgb_uint8) const {
  if (rgb_uint8.dim() != 3 || rgb_uint8.size(2) != 3 || rgb_uint8.scalar_type() != at::kByte)
    fail_usage("CLIP preprocessing expects a uint8 RGB image [H, W, 3]");
  const int64_t h = rgb_uint8.size(0), w = rgb_uint8.size(1), r = m_config.image_resolution;
  // torchvision Resize(int): the short side becomes r, the long side int(r * long / short).
  int64_t nh = r, nw = r;
  if (w <= h) nh = static_cast<int64_t>(static_cast<double>(r) * static_cast<double>(h) / static_cast<double>(w));
  else nw = static_cast<int64_t>(static_cast<double>(r) * static_cast<double>(w) / static_cast<double>(h));
  const at::Tensor resized = (nh == h && nw == w) ? rgb_uint8 : pil_resize(rgb_uint8, nh, nw, PilFilter::Bicubic);
  // CenterCrop: offsets int(round((size - crop) / 2)) with Python's half-to-even rounding.
  const auto top = static_cast<int64_t>(std::nearbyint(static_cast<double>(nh - r) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(static_cast<double>(nw - r) / 2.0));
  const at::Tensor cropped = resized.narrow(0, top, r).narrow(1, left, r);
  return normalize(cropped.to(at::kFloat) / 255.0f);
}

}  // namespace semfield::foundation
