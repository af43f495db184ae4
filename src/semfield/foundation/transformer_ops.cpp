// Shared attention and normalisation ops of the foundation-model ports.
#include "semfield/foundation/transformer_ops.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>

#include <ATen/ATen.h>

#include "semfield/core/env.h"
#include "semfield/core/error.h"
#include "semfield/foundation/op_profile.h"
#include "semfield/kernels/attention_softmax.h"

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

namespace {

bool fused_attention_enabled() {
  static const bool enabled = env_switch_on("SEMFIELD_FUSED_ATTENTION");
  return enabled;
}

at::Tensor scaled_query(const at::Tensor& q, const AttentionOptions& options) {
  if (options.scale_mode == ScaleMode::MultiplyQuery) return q * options.scale;
  if (options.scale_mode == ScaleMode::DivideQuery) return q / options.scale;
  return q;
}

int64_t chunk_rows(int64_t bh, int64_t nq, int64_t nk) {
  return std::max<int64_t>(1, std::min<int64_t>(nq, kChunkBytes / (4 * std::max<int64_t>(1, bh * nk))));
}

}  // namespace

at::Tensor scaled_dot_product_attention_reference(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v,
                                                  const AttentionOptions& options) {
  SEMFIELD_ASSERT(q_in.dim() == 3 && k.dim() == 3 && v.dim() == 3, "attention expects [BH, N, D] tensors");
  const int64_t bh = q_in.size(0), nq = q_in.size(1), nk = k.size(1), dv = v.size(2);
  const at::Tensor q = scaled_query(q_in, options);
  const at::Tensor kt = k.transpose(1, 2);
  at::Tensor out = at::empty({bh, nq, dv}, q.options());
  if (options.probabilities != nullptr) *options.probabilities = at::empty({bh, nq, nk}, q.options());
  const int64_t rows = chunk_rows(bh, nq, nk);
  for (int64_t r0 = 0; r0 < nq; r0 += rows) {
    const int64_t n = std::min(rows, nq - r0);
    at::Tensor logits = at::bmm(q.narrow(1, r0, n), kt);
    if (options.scale_mode == ScaleMode::MultiplyLogits) logits.mul_(options.scale);
    if (options.scale_mode == ScaleMode::DivideLogits) logits.div_(options.scale);
    kernels::biased_softmax_rows_reference_(logits, 1.0, options.mask, options.rel_h, options.rel_w, r0);
    if (options.probabilities != nullptr) options.probabilities->narrow(1, r0, n).copy_(logits);
    out.narrow(1, r0, n).copy_(at::bmm(logits, v));
  }
  return out;
}

at::Tensor scaled_dot_product_attention(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& options) {
  SEMFIELD_ASSERT(q_in.dim() == 3 && k.dim() == 3 && v.dim() == 3, "attention expects [BH, N, D] tensors");
  const bool all_float = q_in.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat &&
                         v.scalar_type() == at::kFloat && q_in.device().is_cpu();
  if (!fused_attention_enabled() || !all_float) return scaled_dot_product_attention_reference(q_in, k, v, options);
  const int64_t bh = q_in.size(0), nq = q_in.size(1), nk = k.size(1), d = q_in.size(2), dv = v.size(2);
  const at::Tensor q = scaled_query(q_in, options);
  const at::Tensor kt = k.transpose(1, 2);
  double logit_scale = 1.0;
  if (options.scale_mode == ScaleMode::MultiplyLogits) logit_scale = options.scale;
  if (options.scale_mode == ScaleMode::DivideLogits) logit_scale = 1.0 / options.scale;
  at::Tensor out = at::empty({bh, nq, dv}, q.options());
  if (options.probabilities != nullptr) *options.probabilities = at::empty({bh, nq, nk}, q.options());
  const int64_t rows = chunk_rows(bh, nq, nk);
  // One logits buffer (and one output buffer when chunked) for every chunk: a fresh 128 MB allocation per chunk
  // is mmapped and page-faulted each time by glibc, which made the q k^T product 2.5x slower than the GEMM.
  const at::Tensor logits_buffer = at::empty({bh * rows * nk}, q.options());
  const at::Tensor out_buffer = rows < nq ? at::empty({bh * rows * dv}, q.options()) : at::Tensor();
  for (int64_t r0 = 0; r0 < nq; r0 += rows) {
    const int64_t n = std::min(rows, nq - r0);
    at::Tensor logits = logits_buffer.narrow(0, 0, bh * n * nk).view({bh, n, nk});
    {
      OpScope op("attention q k^T", 2.0 * static_cast<double>(bh * n * nk * d));
      at::bmm_out(logits, q.narrow(1, r0, n), kt);
    }
    {
      OpScope op("attention softmax (+ scale, mask, rel-pos)");
      kernels::biased_softmax_rows_(logits, logit_scale, options.mask, options.rel_h, options.rel_w, r0);
    }
    if (options.probabilities != nullptr) options.probabilities->narrow(1, r0, n).copy_(logits);
    OpScope op("attention p v", 2.0 * static_cast<double>(bh * n * nk * dv));
    if (n == nq) {
      at::bmm_out(out, logits, v);
    } else {
      at::Tensor chunk = out_buffer.narrow(0, 0, bh * n * dv).view({bh, n, dv});
      at::bmm_out(chunk, logits, v);
      out.narrow(1, r0, n).copy_(chunk);
    }
  }
  return out;
}

bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
#else
  return false;
#endif
}

PrecisionRates measure_linear_rates() {
  at::InferenceMode guard;
  const at::Tensor x = at::full({512, 768}, 0.5f), w = at::full({768, 768}, 0.01f), b = at::zeros({768});
  const double macs = 512.0 * 768.0 * 768.0;
  // Each timed call as the encoders make it: float in and out; in bf16 the input's and the output's conversions
  // included (the weight's bf16 copy is made once, as linear_bf16 caches it).
  const at::Tensor wb = w.to(at::kBFloat16), bb = b.to(at::kBFloat16);
  auto fp32 = [&] { return at::linear(x, w, b); };
  auto bf16 = [&] { return at::linear(x.to(at::kBFloat16), wb, bb).to(at::kFloat); };
  return measure_precision_rates(macs, 5, fp32, bf16);
}

namespace {
std::atomic<int> g_precision{static_cast<int>(Precision::Float32)};

// bf16 copies of weights, keyed by the weight's TensorImpl; an entry is stale once its weight is freed (the weak
// pointer expired) or rewritten (data pointer or version changed: bind() and randomize() copy in place).
struct Bf16Copy {
  c10::weak_intrusive_ptr<c10::TensorImpl> source;
  const void* data;
  int64_t version;
  at::Tensor copy;
};
std::mutex g_bf16_mutex;
std::unordered_map<const c10::TensorImpl*, Bf16Copy> g_bf16_copies;

int64_t version_of(const at::Tensor& t) { return t.is_inference() ? -1 : static_cast<int64_t>(t._version()); }

at::Tensor bf16_copy(const at::Tensor& weight) {
  std::lock_guard<std::mutex> lock(g_bf16_mutex);
  const c10::TensorImpl* key = weight.unsafeGetTensorImpl();
  auto it = g_bf16_copies.find(key);
  if (it != g_bf16_copies.end() && !it->second.source.expired() && it->second.data == weight.data_ptr() &&
      it->second.version == version_of(weight))
    return it->second.copy;
  for (auto e = g_bf16_copies.begin(); e != g_bf16_copies.end();)
    e = e->second.source.expired() ? g_bf16_copies.erase(e) : std::next(e);
  at::Tensor copy;
  {
    at::InferenceMode guard;
    copy = weight.to(at::kBFloat16).contiguous();
  }
  g_bf16_copies.erase(key);
  g_bf16_copies.emplace(key, Bf16Copy{c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()),
                                      weight.data_ptr(), version_of(weight), copy});
  return copy;
}

// x in bf16 (cast when float) times the weight's bf16 copy; the result stays bf16.
at::Tensor linear_bf16(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const at::Tensor xb = x.scalar_type() == at::kBFloat16 ? x : x.to(at::kBFloat16);
  return at::linear(xb, bf16_copy(weight), bias.defined() ? bf16_copy(bias) : at::Tensor());
}
}  // namespace

Precision foundation_precision() { return static_cast<Precision>(g_precision.load(std::memory_order_relaxed)); }
void set_foundation_precision(Precision precision) {
  g_precision.store(static_cast<int>(precision), std::memory_order_relaxed);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (foundation_precision() == Precision::Float32 || weight.scalar_type() != at::kFloat)
    return at::linear(x, weight, bias);
  return linear_bf16(x, weight, bias).to(at::kFloat);
}

at::Tensor activate_(at::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::Gelu: return at::gelu_(x);
    case Activation::QuickGelu: return x.mul_(at::sigmoid(x * 1.702));
    case Activation::Relu: return at::relu_(x);
  }
  return x;
}

at::Tensor mlp(const at::Tensor& x, const at::Tensor& fc1_weight, const at::Tensor& fc1_bias,
               const at::Tensor& fc2_weight, const at::Tensor& fc2_bias, Activation activation) {
  const int64_t rows = x.numel() / x.size(-1), in = x.size(-1), hidden = fc1_weight.size(0);
  at::Tensor h;
  const bool bf16 = foundation_precision() == Precision::BFloat16 && fc1_weight.scalar_type() == at::kFloat;
  {
    OpScope op("mlp fc1", 2.0 * static_cast<double>(rows * in * hidden));
    h = bf16 ? linear_bf16(x, fc1_weight, fc1_bias) : at::linear(x, fc1_weight, fc1_bias);
  }
  {
    OpScope op("mlp activation");
    // In place (the hidden layer is the block's largest tensor) unless autograd needs the pre-activation.
    if (h.requires_grad()) {
      h = activate(h, activation);
    } else {
      activate_(h, activation);
    }
  }
  OpScope op("mlp fc2", 2.0 * static_cast<double>(rows * in * hidden));
  return bf16 ? linear_bf16(h, fc2_weight, fc2_bias).to(at::kFloat) : at::linear(h, fc2_weight, fc2_bias);
}

at::Tensor multi_head_self_attention(const at::Tensor& x, const at::Tensor& qkv_weight, const at::Tensor& qkv_bias,
                                     const at::Tensor& proj_weight, const at::Tensor& proj_bias, int64_t heads,
                                     AttentionOptions options, const QueryTerms& query_terms) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  const int64_t head_dim = c / heads;
  at::Tensor q, k, v;
  {
    OpScope op("qkv linear", 2.0 * static_cast<double>(b * n * c * 3 * c));
    // [B, N, 3C] -> [3, B, heads, N, head_dim]
    const at::Tensor qkv = linear(x, qkv_weight, qkv_bias).view({b, n, 3, heads, head_dim}).permute({2, 0, 3, 1, 4});
    q = qkv[0].reshape({b * heads, n, head_dim});
    k = qkv[1].reshape({b * heads, n, head_dim});
    v = qkv[2].reshape({b * heads, n, head_dim});
  }
  if (query_terms) query_terms(q, options);
  const at::Tensor o = scaled_dot_product_attention(q, k, v, options);
  OpScope op("proj linear", 2.0 * static_cast<double>(b * n * c * c));
  const at::Tensor merged = o.view({b, heads, n, head_dim}).permute({0, 2, 1, 3}).reshape({b, n, c});
  return linear(merged, proj_weight, proj_bias);
}

at::Tensor pre_norm_block(const at::Tensor& x, const PreNormBlockWeights& w, const PreNormBlockOptions& options) {
  const int64_t c = x.size(-1);
  at::Tensor y;
  {
    OpScope op("layer norm");
    y = at::layer_norm(x, {c}, w.norm1_weight, w.norm1_bias, options.eps);
  }
  const at::Tensor a = multi_head_self_attention(y, w.qkv_weight, w.qkv_bias, w.proj_weight, w.proj_bias,
                                                 options.heads, options.attention);
  at::Tensor h, z;
  {
    OpScope op("residual + layer norm");
    std::tie(h, z) = kernels::add_layer_norm(x, a, w.norm2_weight, w.norm2_bias, options.eps);
  }
  const at::Tensor m = mlp(z, w.fc1_weight, w.fc1_bias, w.fc2_weight, w.fc2_bias, options.activation);
  OpScope op("residual");
  h.add_(m);
  return h;
}

}  // namespace semfield::foundation
