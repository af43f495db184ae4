// Best dot product of each pixel against a few rows.
#include "semfield/kernels/max_dot.h"

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "semfield/core/parallel.h"
#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

constexpr int kLanes = 8;          // pixels per accumulator: one AVX2 register (two SSE or half an AVX-512 one)
constexpr int kRowsPerPass = 8;    // rows whose accumulators stay in registers at once
constexpr int64_t kGrain = 4096;   // pixels per parallel chunk

// best[0..kLanes) = max(best, max over the R rows of rows . features[:, p..p+kLanes)): the R accumulators stay in
// registers and each feature vector is loaded once for all R rows (with AVX2; plain loops otherwise).
template <int R>
inline void lanes_max_dot(const float* features, int64_t n, int64_t c_count, const float* rows, int64_t p,
                          float* best) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t c = 0; c < c_count; ++c) {
    const __m256 f = _mm256_loadu_ps(features + c * n + p);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(rows[r * c_count + c]), f, acc[r]);
  }
  __m256 m = _mm256_loadu_ps(best);
  for (int r = 0; r < R; ++r) m = _mm256_max_ps(m, acc[r]);
  _mm256_storeu_ps(best, m);
#else
  float acc[R][kLanes] = {};
  for (int64_t c = 0; c < c_count; ++c) {
    const float* f = features + c * n + p;
    for (int r = 0; r < R; ++r) {
      const float w = rows[r * c_count + c];
      for (int j = 0; j < kLanes; ++j) acc[r][j] += w * f[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < kLanes; ++j) best[j] = std::max(best[j], acc[r][j]);
#endif
}

template <int R>
void rows_pass(const float* features, int64_t n, int64_t c_count, const float* rows, int64_t begin, int64_t end,
               float* out) {
  int64_t p = begin;
  for (; p + kLanes <= end; p += kLanes) lanes_max_dot<R>(features, n, c_count, rows, p, out + p);
  for (; p < end; ++p)  // the tail, one pixel at a time
    for (int r = 0; r < R; ++r) {
      float dot = 0;
      for (int64_t c = 0; c < c_count; ++c) dot += rows[r * c_count + c] * features[c * n + p];
      out[p] = std::max(out[p], dot);
    }
}

using PassFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*);
constexpr PassFn kPasses[kRowsPerPass] = {rows_pass<1>, rows_pass<2>, rows_pass<3>, rows_pass<4>,
                                          rows_pass<5>, rows_pass<6>, rows_pass<7>, rows_pass<8>};

}  // namespace

at::Tensor max_dot(const at::Tensor& features, const at::Tensor& rows) {
  constexpr const char* op = "max_dot";
  detail::check_dtype(op, "features", features, at::kFloat);
  detail::check_dim(op, "features", features, 2);
  detail::check_contiguous(op, "features", features);
  detail::check_dtype(op, "rows", rows, at::kFloat);
  detail::check_dim(op, "rows", rows, 2);
  detail::check_size(op, "rows", rows, 1, features.size(0), "the features' channels");
  detail::require_cpu(op, {{"features", &features}, {"rows", &rows}});
  const int64_t c_count = features.size(0), n = features.size(1), k_count = rows.size(0);
  at::Tensor out = at::full({n}, -std::numeric_limits<float>::infinity());
  if (n == 0 || k_count == 0) return out;
  const at::Tensor r = rows.contiguous();
  const float* f = features.data_ptr<float>();
  const float* w = r.data_ptr<float>();
  float* o = out.data_ptr<float>();
  parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t k = 0; k < k_count; k += kRowsPerPass) {
      const int64_t pass = std::min<int64_t>(kRowsPerPass, k_count - k);
      kPasses[pass - 1](f, n, c_count, w + k * c_count, begin, end, o);
    }
  });
  return out;
}

at::Tensor max_dot_reference(const at::Tensor& features, const at::Tensor& rows) {
  if (rows.size(0) == 0) return at::full({features.size(1)}, -std::numeric_limits<float>::infinity());
  return std::get<0>(at::matmul(rows, features).max(0));
}

}  // namespace semfield::kernels
