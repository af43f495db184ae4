// Shared attention and normalisation ops of the foundation-model ports.
#include "semfield/foundation/transformer_ops.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield::foundation {

namespace {
// Logit chunk budget. Larger chunks give BLAS taller panels: on 2 cores SAM's global attention (12 heads x
// 4096 x 4096) ran bmm + softmax + bmm at 19 GFLOP/s with 85-row chunks (16 MB) and 26 GFLOP/s with 1024 rows;
// 128 MB (682 rows there) keeps most of that gain at a bounded memory cost.
constexpr int64_t kChunkBytes = int64_t{128} << 20;
}  // namespace

at::Tensor activate(const at::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::Gelu: return at::gelu(x);
    case Activation::QuickGelu: return x * at::sigmoid(x * 1.702);
    case Activation::Relu: return at::relu(x);
  }
  return x;
}

at::Tensor layer_norm_2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const at::Tensor u = x.mean(1, true);
  const at::Tensor d = x - u;
  const at::Tensor s = d.pow(2).mean(1, true);
  const at::Tensor y = d / at::sqrt(s + eps);
  return weight.view({1, -1, 1, 1}) * y + bias.view({1, -1, 1, 1});
}

at::Tensor scaled_dot_product_attention(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& options) {
  SEMFIELD_ASSERT(q_in.dim() == 3 && k.dim() == 3 && v.dim() == 3, "attention expects [BH, N, D] tensors");
  const int64_t bh = q_in.size(0), nq = q_in.size(1), nk = k.size(1), dv = v.size(2);
  at::Tensor q = q_in;
  if (options.scale_mode == ScaleMode::MultiplyQuery) q = q * options.scale;
  if (options.scale_mode == ScaleMode::DivideQuery) q = q / options.scale;
  const at::Tensor kt = k.transpose(1, 2);
  at::Tensor out = at::empty({bh, nq, dv}, q.options());
  if (options.probabilities != nullptr) *options.probabilities = at::empty({bh, nq, nk}, q.options());
  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(nq, kChunkBytes / (4 * std::max<int64_t>(1, bh * nk))));
  for (int64_t r0 = 0; r0 < nq; r0 += rows) {
    const int64_t n = std::min(rows, nq - r0);
    const at::Tensor qc = q.narrow(1, r0, n);
    at::Tensor logits;
    if (options.mask.defined()) {
      logits = at::baddbmm(options.mask.narrow(0, r0, n).unsqueeze(0), qc, kt);
    } else {
      logits = at::bmm(qc, kt);
    }
    if (options.scale_mode == ScaleMode::MultiplyLogits) logits.mul_(options.scale);
    if (options.scale_mode == ScaleMode::DivideLogits) logits.div_(options.scale);
    if (options.bias) options.bias(logits, r0);
    at::_softmax_out(logits, logits, -1, false);
    if (options.probabilities != nullptr) options.probabilities->narrow(1, r0, n).copy_(logits);
    at::Tensor oc = out.narrow(1, r0, n);
    if (n == nq) {
      at::bmm_out(out, logits, v);
    } else {
      oc.copy_(at::bmm(logits, v));
    }
  }
  return out;
}

at::Tensor multi_head_self_attention(const at::Tensor& x, const at::Tensor& qkv_weight, const at::Tensor& qkv_bias,
                                     const at::Tensor& proj_weight, const at::Tensor& proj_bias, int64_t heads,
                                     AttentionOptions options) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  const int64_t head_dim = c / heads;
  // [B, N, 3C] -> [3, B, heads, N, head_dim]
  const at::Tensor qkv = at::linear(x, qkv_weight, qkv_bias).view({b, n, 3, heads, head_dim}).permute({2, 0, 3, 1, 4});
  const at::Tensor q = qkv[0].reshape({b * heads, n, head_dim});
  const at::Tensor k = qkv[1].reshape({b * heads, n, head_dim});
  const at::Tensor v = qkv[2].reshape({b * heads, n, head_dim});
  const at::Tensor o = scaled_dot_product_attention(q, k, v, options);
  const at::Tensor merged = o.view({b, heads, n, head_dim}).permute({0, 2, 1, 3}).reshape({b, n, c});
  return at::linear(merged, proj_weight, proj_bias);
}

at::Tensor pre_norm_block(const at::Tensor& x, const PreNormBlockWeights& w, const PreNormBlockOptions& options) {
  const int64_t c = x.size(-1);
  const at::Tensor y = at::layer_norm(x, {c}, w.norm1_weight, w.norm1_bias, options.eps);
  at::Tensor h = x + multi_head_self_attention(y, w.qkv_weight, w.qkv_bias, w.proj_weight, w.proj_bias, options.heads,
                                               options.attention);
  const at::Tensor z = at::layer_norm(h, {c}, w.norm2_weight, w.norm2_bias, options.eps);
  h.add_(at::linear(activate(at::linear(z, w.fc1_weight, w.fc1_bias), options.activation), w.fc2_weight, w.fc2_bias));
  return h;
}

}  // namespace semfield::foundation
