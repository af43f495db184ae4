// SAM mask decoder forward pass.
#include "semfield/foundation/sam_mask_decoder.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/transformer_ops.h"

namespace semfield::foundation {

SamMaskDecoder::Attention SamMaskDecoder::declare_attention(WeightSet& weights, const std::string& p, int64_t internal) {
  const int64_t c = m_config.transformer_dim;
  Attention a;
  a.q_w = weights.add(p + "q_proj.weight", {internal, c});
  a.q_b = weights.add(p + "q_proj.bias", {internal});
  a.k_w = weights.add(p + "k_proj.weight", {internal, c});
  a.k_b = weights.add(p + "k_proj.bias", {internal});
  a.v_w = weights.add(p + "v_proj.weight", {internal, c});
  a.v_b = weights.add(p + "v_proj.bias", {internal});
  a.out_w = weights.add(p + "out_proj.weight", {c, internal});
  a.out_b = weights.add(p + "out_proj.bias", {c});
  return a;
}

SamMaskDecoder::Mlp SamMaskDecoder::declare_mlp(WeightSet& weights, const std::string& p, int64_t in, int64_t hidden,
                                                int64_t out, int64_t layers) {
  Mlp m;
  for (int64_t i = 0; i < layers; ++i) {
    const int64_t n_in = i == 0 ? in : hidden, n_out = i + 1 == layers ? out : hidden;
    const std::string l = p + "layers." + std::to_string(i) + ".";
    m.w.push_back(weights.add(l + "weight", {n_out, n_in}));
    m.b.push_back(weights.add(l + "bias", {n_out}));
  }
  return m;
}

SamMaskDecoder::SamMaskDecoder(const SamConfig& config, WeightSet& weights) : m_config(config) {
  const int64_t c = config.transformer_dim, cross = c / config.attention_downsample_rate;
  const int64_t n_masks = config.num_multimask_outputs + 1;
  const std::string d = "mask_decoder.", t = "mask_decoder.transformer.";
  for (int64_t i = 0; i < config.decoder_depth; ++i) {
    const std::string l = t + "layers." + std::to_string(i) + ".";
    Layer layer;
    layer.self_attn = declare_attention(weights, l + "self_attn.", c);
    layer.norm_w[0] = weights.add(l + "norm1.weight", {c});
    layer.norm_b[0] = weights.add(l + "norm1.bias", {c});
    layer.token_to_image = declare_attention(weights, l + "cross_attn_token_to_image.", cross);
    layer.norm_w[1] = weights.add(l + "norm2.weight", {c});
    layer.norm_b[1] = weights.add(l + "norm2.bias", {c});
    layer.lin1_w = weights.add(l + "mlp.lin1.weight", {config.decoder_mlp_dim, c});
    layer.lin1_b = weights.add(l + "mlp.lin1.bias", {config.decoder_mlp_dim});
    layer.lin2_w = weights.add(l + "mlp.lin2.weight", {c, config.decoder_mlp_dim});
    layer.lin2_b = weights.add(l + "mlp.lin2.bias", {c});
    layer.norm_w[2] = weights.add(l + "norm3.weight", {c});
    layer.norm_b[2] = weights.add(l + "norm3.bias", {c});
    layer.norm_w[3] = weights.add(l + "norm4.weight", {c});
    layer.norm_b[3] = weights.add(l + "norm4.bias", {c});
    layer.image_to_token = declare_attention(weights, l + "cross_attn_image_to_token.", cross);
    m_layers.push_back(layer);
  }
  m_final_attn = declare_attention(weights, t + "final_attn_token_to_image.", cross);
  m_norm_final_w = weights.add(t + "norm_final_attn.weight", {c});
  m_norm_final_b = weights.add(t + "norm_final_attn.bias", {c});
  m_iou_token = weights.add(d + "iou_token.weight", {1, c});
  m_mask_tokens = weights.add(d + "mask_tokens.weight", {n_masks, c});
  m_up0_w = weights.add(d + "output_upscaling.0.weight", {c, c / 4, 2, 2});
  m_up0_b = weights.add(d + "output_upscaling.0.bias", {c / 4});
  m_up1_w = weights.add(d + "output_upscaling.1.weight", {c / 4});
  m_up1_b = weights.add(d + "output_upscaling.1.bias", {c / 4});
  m_up3_w = weights.add(d + "output_upscaling.3.weight", {c / 4, c / 8, 2, 2});
  m_up3_b = weights.add(d + "output_upscaling.3.bias", {c / 8});
  for (int64_t i = 0; i < n_masks; ++i)
    m_hypernetworks.push_back(
        declare_mlp(weights, d + "output_hypernetworks_mlps." + std::to_string(i) + ".", c, c, c / 8, 3));
  m_iou_head = declare_mlp(weights, d + "iou_prediction_head.", c, config.iou_head_hidden_dim, n_masks,
                           config.iou_head_depth);
}

at::Tensor SamMaskDecoder::attend(const Attention& a, const at::Tensor& q_in, const at::Tensor& k_in,
                                  const at::Tensor& v_in) const {
  const int64_t heads = m_config.decoder_heads;
  const at::Tensor q = at::linear(q_in, a.q_w, a.q_b), k = at::linear(k_in, a.k_w, a.k_b), v = at::linear(v_in, a.v_w, a.v_b);
  const int64_t b = q.size(0), nq = q.size(1), nk = k.size(1), internal = q.size(2), ch = internal / heads;
  const auto split = [&](const at::Tensor& x, int64_t n) {
    return x.view({b, n, heads, ch}).transpose(1, 2).reshape({b * heads, n, ch});
  };
  AttentionOptions options;
  options.scale_mode = ScaleMode::DivideLogits;
  options.scale = std::sqrt(static_cast<double>(ch));
  const at::Tensor o = scaled_dot_product_attention(split(q, nq), split(k, nk), split(v, nk), options);
  return at::linear(o.view({b, heads, nq, ch}).transpose(1, 2).reshape({b, nq, internal}), a.out_w, a.out_b);
}

at::Tensor SamMaskDecoder::mlp(const Mlp& m, at::Tensor x) const {
  for (size_t i = 0; i < m.w.size(); ++i) {
    x = at::linear(x, m.w[i], m.b[i]);
    if (i + 1 < m.w.size()) x = at::relu(x);
  }
  return x;
}

at::Tensor SamMaskDecoder::norm(const Layer& l, int i, const at::Tensor& x) const {
  return at::layer_norm(x, {m_config.transformer_dim}, l.norm_w[i], l.norm_b[i], m_config.decoder_eps);
}

SamDecoderOutput SamMaskDecoder::forward(const at::Tensor& image_embeddings, const at::Tensor& image_pe,
                                         const at::Tensor& sparse, const at::Tensor& dense, bool multimask) const {
  const int64_t c = m_config.transformer_dim;
  if (image_embeddings.dim() != 4 || image_embeddings.size(1) != c)
    fail_usage("SAM's mask decoder expects image embeddings [B, {}, h, w]", c);
  const int64_t b = sparse.size(0), n_masks = m_mask_tokens.size(0);
  const at::Tensor output_tokens = at::cat({m_iou_token, m_mask_tokens}, 0).unsqueeze(0).expand({b, -1, -1});
  const at::Tensor tokens = at::cat({output_tokens, sparse}, 1);
  at::Tensor src = image_embeddings.size(0) == b ? image_embeddings : image_embeddings.expand({b, -1, -1, -1});
  src = src + dense;
  const int64_t h = src.size(2), w = src.size(3);
  // TwoWayTransformer over image tokens [B, h*w, C].
  at::Tensor keys = src.flatten(2).permute({0, 2, 1});
  const at::Tensor key_pe = image_pe.flatten(2).permute({0, 2, 1}).expand({b, -1, -1});
  at::Tensor queries = tokens;
  for (size_t i = 0; i < m_layers.size(); ++i) {
    const Layer& l = m_layers[i];
    if (i == 0) {
      queries = attend(l.self_attn, queries, queries, queries);  // the first layer skips the query PE
    } else {
      const at::Tensor q = queries + tokens;
      queries = queries + attend(l.self_attn, q, q, queries);
    }
    queries = norm(l, 0, queries);
    const at::Tensor k = keys + key_pe;  // both cross attentions of the layer read the keys before their update
    queries = norm(l, 1, queries + attend(l.token_to_image, queries + tokens, k, keys));
    queries = norm(l, 2, queries + at::linear(at::relu(at::linear(queries, l.lin1_w, l.lin1_b)), l.lin2_w, l.lin2_b));
    const at::Tensor q = queries + tokens;
    keys = norm(l, 3, keys + attend(l.image_to_token, k, q, queries));
  }
  queries = queries + attend(m_final_attn, queries + tokens, keys + key_pe, keys);
  queries = at::layer_norm(queries, {c}, m_norm_final_w, m_norm_final_b, m_config.decoder_eps);

  const at::Tensor iou_token_out = queries.select(1, 0);
  const at::Tensor mask_tokens_out = queries.narrow(1, 1, n_masks);
  src = keys.transpose(1, 2).reshape({b, c, h, w});
  at::Tensor up = at::conv_transpose2d(src, m_up0_w, m_up0_b, {2, 2});
  up = at::gelu(layer_norm_2d(up, m_up1_w, m_up1_b, m_config.layer_norm_2d_eps));
  up = at::gelu(at::conv_transpose2d(up, m_up3_w, m_up3_b, {2, 2}));
  std::vector<at::Tensor> hyper;
  for (int64_t i = 0; i < n_masks; ++i) hyper.push_back(mlp(m_hypernetworks[static_cast<size_t>(i)], mask_tokens_out.select(1, i)));
  const at::Tensor hyper_in = at::stack(hyper, 1);
  const int64_t uc = up.size(1), uh = up.size(2), uw = up.size(3);
  SamDecoderOutput out;
  at::Tensor masks = at::matmul(hyper_in, up.view({b, uc, uh * uw})).view({b, -1, uh, uw});
  at::Tensor iou = mlp(m_iou_head, iou_token_out);
  const int64_t first = multimask ? 1 : 0, count = multimask ? n_masks - 1 : 1;
  out.masks = masks.narrow(1, first, count);
  out.iou = iou.narrow(1, first, count);
  return out;
}

}  // namespace semfield::foundation
