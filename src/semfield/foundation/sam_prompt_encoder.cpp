// SAM prompt encoder.
#include "semfield/foundation/sam_prompt_encoder.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/transformer_ops.h"

namespace semfield::foundation {

SamPromptEncoder::SamPromptEncoder(const SamConfig& config, WeightSet& weights) : m_config(config) {
  const int64_t c = config.prompt_embed_dim, m = config.mask_in_chans;
  const std::string p = "prompt_encoder.";
  m_gaussian = weights.add(p + "pe_layer.positional_encoding_gaussian_matrix", {2, c / 2});
  for (int i = 0; i < 4; ++i) m_point_embeddings[i] = weights.add(p + "point_embeddings." + std::to_string(i) + ".weight", {1, c});
  m_not_a_point = weights.add(p + "not_a_point_embed.weight", {1, c});
  m_ds0_w = weights.add(p + "mask_downscaling.0.weight", {m / 4, 1, 2, 2});
  m_ds0_b = weights.add(p + "mask_downscaling.0.bias", {m / 4});
  m_ds1_w = weights.add(p + "mask_downscaling.1.weight", {m / 4});
  m_ds1_b = weights.add(p + "mask_downscaling.1.bias", {m / 4});
  m_ds3_w = weights.add(p + "mask_downscaling.3.weight", {m, m / 4, 2, 2});
  m_ds3_b = weights.add(p + "mask_downscaling.3.bias", {m});
  m_ds4_w = weights.add(p + "mask_downscaling.4.weight", {m});
  m_ds4_b = weights.add(p + "mask_downscaling.4.bias", {m});
  m_ds6_w = weights.add(p + "mask_downscaling.6.weight", {c, m, 1, 1});
  m_ds6_b = weights.add(p + "mask_downscaling.6.bias", {c});
  m_no_mask = weights.add(p + "no_mask_embed.weight", {1, c});
}

at::Tensor SamPromptEncoder::encode_positions(const at::Tensor& unit_coords) const {
  // [sin, cos](2 pi (2c - 1) G), with 2 pi applied in float32 as the reference does.
  at::Tensor x = at::matmul(unit_coords * 2 - 1, m_gaussian);
  x = x * (2.0 * M_PI);
  return at::cat({at::sin(x), at::cos(x)}, -1);
}

at::Tensor SamPromptEncoder::dense_positional_encoding() const {
  const int64_t g = m_config.grid();
  const at::Tensor ones = at::ones({g, g}, at::kFloat);
  const at::Tensor y = (ones.cumsum(0) - 0.5) / static_cast<double>(g);
  const at::Tensor x = (ones.cumsum(1) - 0.5) / static_cast<double>(g);
  return encode_positions(at::stack({x, y}, -1)).permute({2, 0, 1}).unsqueeze(0);
}

SamPromptEmbeddings SamPromptEncoder::forward(const at::Tensor& points, const at::Tensor& labels,
                                              const at::Tensor& boxes, const at::Tensor& masks) const {
  const int64_t c = m_config.prompt_embed_dim, g = m_config.grid();
  const double size = static_cast<double>(m_config.img_size);
  const int64_t batch = points.defined() ? points.size(0) : boxes.defined() ? boxes.size(0) : masks.defined() ? masks.size(0) : 1;
  std::vector<at::Tensor> sparse{at::empty({batch, 0, c}, at::kFloat)};
  if (points.defined()) {
    if (points.dim() != 3 || points.size(2) != 2 || !labels.defined() || labels.sizes() != points.sizes().slice(0, 2))
      fail_usage("SAM points must be [B, N, 2] with labels [B, N]");
    at::Tensor coords = points.to(at::kFloat) + 0.5;
    at::Tensor lab = labels.to(at::kFloat);
    if (!boxes.defined()) {
      coords = at::cat({coords, at::zeros({batch, 1, 2}, at::kFloat)}, 1);
      lab = at::cat({lab, -at::ones({batch, 1}, at::kFloat)}, 1);
    }
    // forward_with_coords: x / input width, y / input height (both img_size).
    coords = at::stack({coords.select(2, 0) / size, coords.select(2, 1) / size}, -1);
    at::Tensor pe = encode_positions(coords);
    const at::Tensor pad = (lab == -1).unsqueeze(-1);
    pe = at::where(pad, m_not_a_point.view({1, 1, c}).expand_as(pe), pe);
    pe = pe + (lab == 0).unsqueeze(-1).to(at::kFloat) * m_point_embeddings[0].view({1, 1, c});
    pe = pe + (lab == 1).unsqueeze(-1).to(at::kFloat) * m_point_embeddings[1].view({1, 1, c});
    sparse.push_back(pe);
  }
  if (boxes.defined()) {
    if (boxes.dim() != 2 || boxes.size(1) != 4) fail_usage("SAM boxes must be [B, 4]");
    const at::Tensor corners = (boxes.to(at::kFloat) + 0.5).reshape({-1, 2, 2}) / size;
    at::Tensor pe = encode_positions(corners);
    pe = at::cat({pe.narrow(1, 0, 1) + m_point_embeddings[2].view({1, 1, c}),
                  pe.narrow(1, 1, 1) + m_point_embeddings[3].view({1, 1, c})},
                 1);
    sparse.push_back(pe);
  }
  SamPromptEmbeddings out;
  out.sparse = at::cat(sparse, 1);
  if (masks.defined()) {
    if (masks.dim() != 4 || masks.size(1) != 1 || masks.size(2) != 4 * g || masks.size(3) != 4 * g)
      fail_usage("SAM mask inputs must be [B, 1, {}, {}] low-resolution logits", 4 * g, 4 * g);
    const double eps = m_config.layer_norm_2d_eps;
    at::Tensor x = at::conv2d(masks.to(at::kFloat), m_ds0_w, m_ds0_b, {2, 2});
    x = at::gelu(layer_norm_2d(x, m_ds1_w, m_ds1_b, eps));
    x = at::conv2d(x, m_ds3_w, m_ds3_b, {2, 2});
    x = at::gelu(layer_norm_2d(x, m_ds4_w, m_ds4_b, eps));
    out.dense = at::conv2d(x, m_ds6_w, m_ds6_b);
  } else {
    out.dense = m_no_mask.view({1, c, 1, 1}).expand({batch, c, g, g});
  }
  return out;
}

}  // namespace semfield::foundation
