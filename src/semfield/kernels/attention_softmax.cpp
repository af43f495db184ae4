// Fused attention softmax with additive terms, and the fused residual + LayerNorm.
#include "semfield/kernels/attention_softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/simd_ops.h"

// GCC 12 seeds the AVX-512 reductions with _mm512_undefined_*() and then warns about it: see simd_ops.h.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels {

namespace {

constexpr int64_t kSoftmaxGrain = 8;   // rows per parallel chunk (a row is 196 .. 4096 floats)
constexpr int64_t kNormGrain = 64;     // rows per parallel chunk of the LayerNorm

// x[0..w) = x * scale + add[0..w) (add may be null) + a + rw[0..w) (rw may be null: no relative-position term; with
// a = 0 the sum is then exactly x * scale + add), returning max(best, the new values).
inline float scale_add_rel_max(int64_t w, float* x, float scale, const float* add, float a, const float* rw,
                               float best) {
  int64_t i = 0;
#ifdef __AVX512F__
  const __m512 va = _mm512_set1_ps(a), vs = _mm512_set1_ps(scale);
  __m512 vmax = _mm512_set1_ps(best);
  for (; i + 16 <= w; i += 16) {
    const __m512 bias = rw != nullptr ? _mm512_add_ps(va, _mm512_loadu_ps(rw + i)) : va;
    __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), vs, bias);
    if (add != nullptr) v = _mm512_add_ps(v, _mm512_loadu_ps(add + i));
    _mm512_storeu_ps(x + i, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  best = _mm512_reduce_max_ps(vmax);
#endif
  for (; i < w; ++i) {
    float v = x[i] * scale + (rw != nullptr ? a + rw[i] : a);
    if (add != nullptr) v += add[i];
    x[i] = v;
    best = std::max(best, v);
  }
  return best;
}

// o = a + d over [0, c), returning the sum of o.
inline float add_and_sum(int64_t c, const float* a, const float* d, float* o) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef __AVX512F__
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= c; i += 16) {
    const __m512 v = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(d + i));
    _mm512_storeu_ps(o + i, v);
    acc = _mm512_add_ps(acc, v);
  }
  sum = _mm512_reduce_add_ps(acc);
#endif
  for (; i < c; ++i) {
    o[i] = a[i] + d[i];
    sum += o[i];
  }
  return sum;
}

// sum over [0, c) of (o - mean)^2
inline float centred_square_sum(int64_t c, const float* o, float mean) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef __AVX512F__
  const __m512 vm = _mm512_set1_ps(mean);
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= c; i += 16) {
    const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(o + i), vm);
    acc = _mm512_fmadd_ps(t, t, acc);
  }
  sum = _mm512_reduce_add_ps(acc);
#endif
  for (; i < c; ++i) sum += (o[i] - mean) * (o[i] - mean);
  return sum;
}

void check_biased_softmax_args(const char* op, const at::Tensor& logits, const at::Tensor& mask,
                               const at::Tensor& rel_h, const at::Tensor& rel_w, int64_t row0) {
  detail::require_cpu(op, {{"logits", &logits}, {"mask", &mask}, {"rel_h", &rel_h}, {"rel_w", &rel_w}});
  detail::check_dtype(op, "logits", logits, at::kFloat);
  detail::check_dim(op, "logits", logits, 3);
  detail::check_contiguous(op, "logits", logits);
  const int64_t b = logits.size(0), r = logits.size(1), n = logits.size(2);
  TORCH_CHECK(row0 >= 0, op, ": row0 must be >= 0, got ", row0);
  if (mask.defined()) {
    detail::check_dtype(op, "mask", mask, at::kFloat);
    detail::check_dim(op, "mask", mask, 2);
    detail::check_size(op, "mask", mask, 1, n, "N (keys of the logits)");
    TORCH_CHECK(mask.size(0) >= row0 + r, op, ": mask has ", mask.size(0), " rows, but rows ", row0, "..",
                row0 + r, " are needed");
  }
  TORCH_CHECK(rel_h.defined() == rel_w.defined(), op, ": rel_h and rel_w must be given together");
  if (rel_h.defined()) {
    detail::check_dtype(op, "rel_h", rel_h, at::kFloat);
    detail::check_dtype(op, "rel_w", rel_w, at::kFloat);
    detail::check_dim(op, "rel_h", rel_h, 3);
    detail::check_dim(op, "rel_w", rel_w, 3);
    detail::check_size(op, "rel_h", rel_h, 0, b, "B (batch of the logits)");
    detail::check_size(op, "rel_w", rel_w, 0, b, "B (batch of the logits)");
    TORCH_CHECK(rel_h.size(2) * rel_w.size(2) == n, op, ": rel_h [.., H] and rel_w [.., W] need H * W = N = ", n,
                ", got H = ", rel_h.size(2), ", W = ", rel_w.size(2));
    TORCH_CHECK(rel_h.size(1) >= row0 + r && rel_w.size(1) == rel_h.size(1), op, ": rel_h and rel_w must have the ",
                "same number of query rows, at least ", row0 + r, ", got ", rel_h.size(1), " and ", rel_w.size(1));
  }
}

}  // namespace

void biased_softmax_rows_(at::Tensor& logits, double scale, const at::Tensor& mask_in, const at::Tensor& rel_h_in,
                          const at::Tensor& rel_w_in, int64_t row0) {
  constexpr const char* op = "biased_softmax_rows_";
  check_biased_softmax_args(op, logits, mask_in, rel_h_in, rel_w_in, row0);
  const int64_t b = logits.size(0), r = logits.size(1), n = logits.size(2);
  const at::Tensor mask = mask_in.defined() ? mask_in.contiguous() : mask_in;
  const at::Tensor rel_h = rel_h_in.defined() ? rel_h_in.contiguous() : rel_h_in;
  const at::Tensor rel_w = rel_w_in.defined() ? rel_w_in.contiguous() : rel_w_in;
  const int64_t nq = rel_h.defined() ? rel_h.size(1) : 0;
  const int64_t hh = rel_h.defined() ? rel_h.size(2) : 0, ww = rel_w.defined() ? rel_w.size(2) : 0;
  float* base = logits.data_ptr<float>();
  const float* mask_p = mask.defined() ? mask.data_ptr<float>() : nullptr;
  const float* rh_p = rel_h.defined() ? rel_h.data_ptr<float>() : nullptr;
  const float* rw_p = rel_w.defined() ? rel_w.data_ptr<float>() : nullptr;
  const float s = static_cast<float>(scale);
  parallel_for(0, b * r, kSoftmaxGrain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bi = row / r, q = row0 + row % r;
      float* x = base + row * n;
      const float* mask_row = mask_p != nullptr ? mask_p + q * n : nullptr;
      float best = -std::numeric_limits<float>::infinity();
      if (rh_p != nullptr) {
        const float* rh = rh_p + (bi * nq + q) * hh;
        const float* rw = rw_p + (bi * nq + q) * ww;
        for (int64_t kh = 0; kh < hh; ++kh)
          best = scale_add_rel_max(ww, x + kh * ww, s, mask_row != nullptr ? mask_row + kh * ww : nullptr, rh[kh],
                                   rw, best);
      } else {
        best = scale_add_rel_max(n, x, s, mask_row, 0.0f, nullptr, best);
      }
      const float sum = detail::exp_shift_sum(n, x, best);
      detail::scale_to(n, 1.0f / sum, x, x);
    }
  });
}

void biased_softmax_rows_reference_(at::Tensor& logits, double scale, const at::Tensor& mask,
                                    const at::Tensor& rel_h, const at::Tensor& rel_w, int64_t row0) {
  check_biased_softmax_args("biased_softmax_rows_reference_", logits, mask, rel_h, rel_w, row0);
  const int64_t b = logits.size(0), r = logits.size(1);
  if (scale != 1.0) logits.mul_(scale);
  if (mask.defined()) logits.add_(mask.narrow(0, row0, r).unsqueeze(0));
  if (rel_h.defined()) {
    const int64_t h = rel_h.size(2), w = rel_w.size(2);
    logits.view({b, r, h, w})
        .add_(rel_h.narrow(1, row0, r).unsqueeze(3))
        .add_(rel_w.narrow(1, row0, r).unsqueeze(2));
  }
  at::_softmax_out(logits, logits, -1, false);
}

std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x_in, const at::Tensor& y_in,
                                                 const at::Tensor& weight_in, const at::Tensor& bias_in, double eps) {
  constexpr const char* op = "add_layer_norm";
  detail::require_cpu(op, {{"x", &x_in}, {"y", &y_in}, {"weight", &weight_in}, {"bias", &bias_in}});
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"x", &x_in}, {"y", &y_in},
                                {"weight", &weight_in}, {"bias", &bias_in}})
    detail::check_dtype(op, name, *t, at::kFloat);
  TORCH_CHECK(x_in.sizes() == y_in.sizes(), op, ": x ", x_in.sizes(), " and y ", y_in.sizes(), " differ in shape");
  TORCH_CHECK(x_in.dim() >= 1, op, ": x must have a channel dimension");
  const int64_t c = x_in.size(-1);
  detail::check_dim(op, "weight", weight_in, 1);
  detail::check_dim(op, "bias", bias_in, 1);
  detail::check_size(op, "weight", weight_in, 0, c, "C (last dimension of x)");
  detail::check_size(op, "bias", bias_in, 0, c, "C (last dimension of x)");
  const at::Tensor x = x_in.contiguous(), y = y_in.contiguous();
  const at::Tensor weight = weight_in.contiguous(), bias = bias_in.contiguous();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  at::Tensor normed = at::empty_like(x, at::MemoryFormat::Contiguous);
  const int64_t rows = c == 0 ? 0 : x.numel() / c;
  const float* xp = x.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  const float* bp = bias.data_ptr<float>();
  float* op_ = out.data_ptr<float>();
  float* np_ = normed.data_ptr<float>();
  const float e = static_cast<float>(eps);
  parallel_for(0, rows, kNormGrain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const float* a = xp + row * c;
      const float* d = yp + row * c;
      float* o = op_ + row * c;
      float* nrm = np_ + row * c;
      const float mean = add_and_sum(c, a, d, o) / static_cast<float>(c);
      const float var = centred_square_sum(c, o, mean);
      const float rstd = 1.0f / std::sqrt(var / static_cast<float>(c) + e);
      // (o - mean) * rstd * w + b, vectorised by the compiler (element-wise, no reduction)
      for (int64_t i = 0; i < c; ++i) nrm[i] = (o[i] - mean) * rstd * wp[i] + bp[i];
    }
  });
  return {out, normed};
}

std::pair<at::Tensor, at::Tensor> add_layer_norm_reference(const at::Tensor& x, const at::Tensor& y,
                                                           const at::Tensor& weight, const at::Tensor& bias,
                                                           double eps) {
  at::Tensor out = x + y;
  return {out, at::layer_norm(out, {x.size(-1)}, weight, bias, eps)};
}

}  // namespace semfield::kernels

#pragma GCC diagnostic pop
