// SAM image encoder forward pass.
#include "semfield/foundation/sam_image_encoder.h"

#include <cmath>
#include <tuple>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/op_profile.h"
#include "semfield/foundation/transformer_ops.h"
#include "semfield/kernels/attention_softmax.h"

namespace semfield::foundation {

SamImageEncoder::SamImageEncoder(const SamConfig& config, WeightSet& weights) : m_config(config) {
  const int64_t c = config.embed_dim, p = config.patch_size, g = config.grid(), hd = c / config.num_heads;
  const std::string e = "image_encoder.";
  if (config.use_abs_pos) m_pos_embed = weights.add(e + "pos_embed", {1, g, g, c});
  m_patch_w = weights.add(e + "patch_embed.proj.weight", {c, 3, p, p});
  m_patch_b = weights.add(e + "patch_embed.proj.bias", {c});
  for (int64_t i = 0; i < config.depth; ++i) {
    const std::string b = e + "blocks." + std::to_string(i) + ".";
    Block blk;
    blk.window = config.is_global(i) ? 0 : config.window_size;
    const int64_t span = blk.window == 0 ? g : blk.window;
    blk.norm1_w = weights.add(b + "norm1.weight", {c});
    blk.norm1_b = weights.add(b + "norm1.bias", {c});
    if (config.use_rel_pos) {
      blk.rel_pos_h = weights.add(b + "attn.rel_pos_h", {2 * span - 1, hd});
      blk.rel_pos_w = weights.add(b + "attn.rel_pos_w", {2 * span - 1, hd});
    }
    blk.qkv_w = weights.add(b + "attn.qkv.weight", {3 * c, c});
    if (config.qkv_bias) blk.qkv_b = weights.add(b + "attn.qkv.bias", {3 * c});
    blk.proj_w = weights.add(b + "attn.proj.weight", {c, c});
    blk.proj_b = weights.add(b + "attn.proj.bias", {c});
    blk.norm2_w = weights.add(b + "norm2.weight", {c});
    blk.norm2_b = weights.add(b + "norm2.bias", {c});
    blk.lin1_w = weights.add(b + "mlp.lin1.weight", {config.mlp_hidden(), c});
    blk.lin1_b = weights.add(b + "mlp.lin1.bias", {config.mlp_hidden()});
    blk.lin2_w = weights.add(b + "mlp.lin2.weight", {c, config.mlp_hidden()});
    blk.lin2_b = weights.add(b + "mlp.lin2.bias", {c});
    m_blocks.push_back(blk);
  }
  const int64_t o = config.out_chans;
  m_neck0 = weights.add(e + "neck.0.weight", {o, c, 1, 1});
  m_neck1_w = weights.add(e + "neck.1.weight", {o});
  m_neck1_b = weights.add(e + "neck.1.bias", {o});
  m_neck2 = weights.add(e + "neck.2.weight", {o, o, 3, 3});
  m_neck3_w = weights.add(e + "neck.3.weight", {o});
  m_neck3_b = weights.add(e + "neck.3.bias", {o});
}

at::Tensor sam_relative_positions(int64_t q_size, int64_t k_size, const at::Tensor& table) {
  const int64_t max_dist = 2 * std::max(q_size, k_size) - 1;
  at::Tensor resized = table;
  if (table.size(0) != max_dist) {
    resized = at::upsample_linear1d(table.reshape({1, table.size(0), -1}).permute({0, 2, 1}), {max_dist}, false)
                  .reshape({-1, max_dist})
                  .permute({1, 0});
  }
  const double q_scale = std::max(static_cast<double>(k_size) / static_cast<double>(q_size), 1.0);
  const double k_scale = std::max(static_cast<double>(q_size) / static_cast<double>(k_size), 1.0);
  const at::Tensor q_coords = at::arange(q_size, at::kDouble).unsqueeze(1) * q_scale;
  const at::Tensor k_coords = at::arange(k_size, at::kDouble).unsqueeze(0) * k_scale;
  const at::Tensor relative = (q_coords - k_coords) + static_cast<double>(k_size - 1) * k_scale;
  return resized.index({relative.to(at::kLong)});
}

at::Tensor SamImageEncoder::attention(const Block& blk, const at::Tensor& x) const {
  // x [B, H, W, C] (B = images x windows)
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const int64_t heads = m_config.num_heads, hd = c / heads, n = h * w;
  AttentionOptions options;
  options.scale_mode = ScaleMode::MultiplyQuery;
  options.scale = std::pow(static_cast<double>(hd), -0.5);
  QueryTerms rel_pos;
  if (m_config.use_rel_pos)
    rel_pos = [&](const at::Tensor& q, AttentionOptions& o) {
      OpScope op("rel-pos terms");
      // add_decomposed_rel_pos with the unscaled q: rel_h[b,qh,qw,kh] = q[b,qh,qw,:] . Rh[qh,kh,:], likewise w.
      // As einsum, the query row (qh or qw) is the batch of one GEMM whose rows are every (head, other coordinate):
      // tall products instead of the thousands of 14 x 64 x 14 ones a broadcast matmul makes (5x faster in ViT-H).
      const at::Tensor rh = sam_relative_positions(h, h, blk.rel_pos_h);
      const at::Tensor rw = sam_relative_positions(w, w, blk.rel_pos_w);
      const at::Tensor r_q = q.view({b * heads, h, w, hd});
      o.rel_h = at::einsum("bhwc,hkc->bhwk", {r_q, rh}).reshape({b * heads, n, h});
      o.rel_w = at::einsum("bhwc,wkc->bhwk", {r_q, rw}).reshape({b * heads, n, w});
    };
  return multi_head_self_attention(x.reshape({b, n, c}), blk.qkv_w, blk.qkv_b, blk.proj_w, blk.proj_b, heads,
                                   std::move(options), rel_pos)
      .view({b, h, w, c});
}

at::Tensor SamImageEncoder::block_forward(const Block& blk, const at::Tensor& x) const {
  const int64_t c = x.size(3);
  at::Tensor y;
  {
    OpScope op("layer norm");
    y = at::layer_norm(x, {c}, blk.norm1_w, blk.norm1_b, m_config.encoder_eps);
  }
  if (blk.window > 0) {
    const int64_t b = y.size(0), h = y.size(1), w = y.size(2), ws = blk.window;
    const int64_t pad_h = (ws - h % ws) % ws, pad_w = (ws - w % ws) % ws;
    const int64_t hp = h + pad_h, wp = w + pad_w;
    {
      OpScope op("window partition");
      if (pad_h > 0 || pad_w > 0) y = at::constant_pad_nd(y, {0, 0, 0, pad_w, 0, pad_h});
      y = y.view({b, hp / ws, ws, wp / ws, ws, c}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({-1, ws, ws, c});
    }
    y = attention(blk, y);
    OpScope op("window partition");
    y = y.view({b, hp / ws, wp / ws, ws, ws, c}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({b, hp, wp, c});
    if (hp > h || wp > w) y = y.narrow(1, 0, h).narrow(2, 0, w).contiguous();
  } else {
    y = attention(blk, y);
  }
  at::Tensor out, z;
  {
    OpScope op("residual + layer norm");
    std::tie(out, z) = kernels::add_layer_norm(x, y, blk.norm2_w, blk.norm2_b, m_config.encoder_eps);
  }
  const at::Tensor m = mlp(z, blk.lin1_w, blk.lin1_b, blk.lin2_w, blk.lin2_b, Activation::Gelu);
  OpScope op("residual");
  out.add_(m);
  return out;
}

at::Tensor SamImageEncoder::forward(const at::Tensor& images, std::vector<at::Tensor>* intermediates) const {
  const int64_t s = m_config.img_size, p = m_config.patch_size;
  if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != s || images.size(3) != s)
    fail_usage("SAM's image encoder expects padded images [B, 3, {}, {}]", s, s);
  at::Tensor x;
  {
    OpScope op("patch embedding");
    x = at::conv2d(images, m_patch_w, m_patch_b, {p, p}).permute({0, 2, 3, 1});
  }
  if (intermediates) intermediates->push_back(x);
  if (m_pos_embed.defined()) x = x + m_pos_embed;
  for (const Block& blk : m_blocks) {
    x = block_forward(blk, x);
    if (intermediates) intermediates->push_back(x);
  }
  OpScope op("neck");
  at::Tensor y = at::conv2d(x.permute({0, 3, 1, 2}), m_neck0);
  y = layer_norm_2d(y, m_neck1_w, m_neck1_b, m_config.layer_norm_2d_eps);
  y = at::conv2d(y, m_neck2, {}, {1, 1}, {1, 1});
  return layer_norm_2d(y, m_neck3_w, m_neck3_b, m_config.layer_norm_2d_eps);
}

}  // namespace semfield::foundation
