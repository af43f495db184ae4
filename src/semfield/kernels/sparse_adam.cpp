// Lazy (touched-entries-only) Adam for hash-grid tables: parallel over entries, AVX-512 over 8 entries at a
// time with masks for the untouched ones, and a scalar path for sparse groups, tails and non-AVX-512 builds.
//
// Update per touched entry e, with its own step count s (torch.optim.Adam's formula, L2 weight decay):
//   g = grad + wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^s)) m / (sqrt(v) / sqrt(1 - b2^s) + eps)
#include "semfield/kernels/sparse_adam.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

// The vector path needs AVX-512 F + BW + VL (masked byte and 256-bit ops).
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define SEMFIELD_SPARSE_ADAM_AVX512 1
#include <immintrin.h>
#endif

#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

// beta^s for s < 2^24 as lo[s & 4095] * hi[s >> 12]: two 32 KB tables per beta. Built by repeated
// multiplication in double: relative error <= 4096 ulps(double) ~ 1e-12, far below float precision.
constexpr int kTableBits = 12;
constexpr int64_t kTableSize = int64_t(1) << kTableBits;
constexpr int64_t kMaxTableStep = kTableSize * kTableSize;

struct PowerTable {
  std::vector<double> lo, hi;
  double beta;

  explicit PowerTable(double b) : lo(kTableSize), hi(kTableSize), beta(b) {
    lo[0] = 1.0;
    for (int64_t k = 1; k < kTableSize; ++k) lo[k] = lo[k - 1] * b;
    const double stride = std::pow(b, double(kTableSize));
    hi[0] = 1.0;
    for (int64_t k = 1; k < kTableSize; ++k) hi[k] = hi[k - 1] * stride;
  }
  double operator()(int64_t s) const {
    if (s >= kMaxTableStep) return std::pow(beta, double(s));
    return lo[s & (kTableSize - 1)] * hi[s >> kTableBits];
  }
};

/// The per-entry bias-correction factors step_size(s) = lr / (1 - b1^s) and inv_sqrt_bc2(s) =
/// 1 / sqrt(1 - b2^s) for an entry's step count s. A touched entry costs ~74 bytes of memory traffic, so
/// computing these per entry (two pow, a division, a square root) would dominate; instead, three tiers:
///  - s >= saturated: b^s < 2^-40 for both betas, so the factors are (lr, 1) to float precision;
///  - s < n_small: float tables built once per call (n_small = min(saturated, 16384));
///  - otherwise: the double power tables above (rare: steps between 16384 and saturation, beta2 > 0.998).
struct BiasFactors {
  static constexpr int64_t kMaxSmall = 16384;
  PowerTable pow1, pow2;
  double lr;
  int64_t saturated, n_small;
  std::vector<float> small_step_size, small_inv_sqrt_bc2;

  explicit BiasFactors(const AdamHyper& h) : pow1(h.beta1), pow2(h.beta2), lr(h.lr) {
    saturated = std::max(saturation_step(h.beta1), saturation_step(h.beta2));
    n_small = std::min(saturated, kMaxSmall);
    small_step_size.resize(size_t(n_small));
    small_inv_sqrt_bc2.resize(size_t(n_small));
    for (int64_t s = 0; s < n_small; ++s) {
      small_step_size[size_t(s)] = s == 0 ? float(lr) : step_size_exact(s);
      small_inv_sqrt_bc2[size_t(s)] = s == 0 ? 1.f : inv_sqrt_bc2_exact(s);
    }
  }
  float step_size(int64_t s) const {
    return s >= saturated ? float(lr) : s < n_small ? small_step_size[size_t(s)] : step_size_exact(s);
  }
  float inv_sqrt_bc2(int64_t s) const {
    return s >= saturated ? 1.f : s < n_small ? small_inv_sqrt_bc2[size_t(s)] : inv_sqrt_bc2_exact(s);
  }
  float step_size_exact(int64_t s) const { return float(lr / (1.0 - pow1(s))); }
  float inv_sqrt_bc2_exact(int64_t s) const { return float(1.0 / std::sqrt(1.0 - pow2(s))); }

 private:
  static int64_t saturation_step(double beta) {
    if (beta <= 0) return 1;
    const double s = std::ceil(40.0 * std::log(2.0) / -std::log(beta));
    return s > double(std::numeric_limits<int32_t>::max()) ? std::numeric_limits<int32_t>::max() : int64_t(s);
  }
};

struct AdamConstants {
  float b1, b2, one_minus_b1, one_minus_b2, eps, wd;
};

/// Scalar update of entries [begin, end).
void update_scalar(int64_t begin, int64_t end, int F, float* p, float* g, float* m, float* v, int32_t* steps,
                   uint8_t* touched, const AdamConstants& k, const BiasFactors& bias) {
  for (int64_t e = begin; e < end; ++e) {
    if (!touched[e]) continue;
    const int32_t s = ++steps[e];
    const float step_size = bias.step_size(s);
    const float inv_sqrt_bc2 = bias.inv_sqrt_bc2(s);
    for (int64_t j = e * F; j < (e + 1) * F; ++j) {
      const float gj = g[j] + k.wd * p[j];
      m[j] = k.b1 * m[j] + k.one_minus_b1 * gj;
      v[j] = k.b2 * v[j] + k.one_minus_b2 * (gj * gj);
      p[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + k.eps);
      g[j] = 0.f;
    }
    touched[e] = 0;
  }
}

#ifdef SEMFIELD_SPARSE_ADAM_AVX512

// GCC 12's AVX-512 headers seed unmasked gathers / conversions with _mm512_undefined_*(), which it then
// reports as "may be used uninitialized" (a false positive in the system header, fixed in later GCC).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

/// Entries [begin, end), begin a multiple of 8, processed 8 at a time: the 8F floats of 8 entries span
/// ceil(8F / 16) vectors; lane j of vector q belongs to entry (16 q + j) / F, so per-entry values are
/// spread to lanes by one permute and the touched flags become lane masks. Masked loads and stores are
/// slow on Zen 4/5 (measured: the step took 1.5x as long with them everywhere), so fully touched vectors
/// (the common case at training batch sizes) use plain ones, and groups with fewer than 4 touched
/// entries go to the scalar loop.
void update_avx512(int64_t begin, int64_t end, int F, float* p, float* g, float* m, float* v, int32_t* steps,
                   uint8_t* touched, const AdamConstants& k, const BiasFactors& bias) {
  const int n_vec = (8 * F + 15) / 16;
  std::vector<int32_t> lane_entry(static_cast<size_t>(16 * n_vec));
  std::vector<__mmask16> lane_valid(static_cast<size_t>(n_vec));
  for (int q = 0; q < n_vec; ++q) {
    __mmask16 valid = 0;
    for (int j = 0; j < 16; ++j) {
      const int flat = 16 * q + j;
      lane_entry[size_t(flat)] = flat < 8 * F ? flat / F : 0;
      if (flat < 8 * F) valid = __mmask16(valid | (1u << j));
    }
    lane_valid[size_t(q)] = valid;
  }
  const __m512 b1 = _mm512_set1_ps(k.b1), b2 = _mm512_set1_ps(k.b2);
  const __m512 omb1 = _mm512_set1_ps(k.one_minus_b1), omb2 = _mm512_set1_ps(k.one_minus_b2);
  const __m512 eps = _mm512_set1_ps(k.eps), wd = _mm512_set1_ps(k.wd);
  const __m512d one_d = _mm512_set1_pd(1.0), lr_d = _mm512_set1_pd(bias.lr);
  const __m256i lo_mask = _mm256_set1_epi32(int(kTableSize - 1));
  const __m256i saturated = _mm256_set1_epi32(int32_t(bias.saturated));
  const __m256i n_small = _mm256_set1_epi32(int32_t(bias.n_small));
  const __m256i max_table_step = _mm256_set1_epi32(int32_t(kMaxTableStep));

  int64_t e0 = begin;
  for (; e0 + 8 <= end; e0 += 8) {
    const __m128i flags = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(touched + e0));
    const __mmask8 active = __mmask8(_mm_test_epi8_mask(flags, flags) & 0xFF);
    if (!active) continue;
    if (_mm_popcnt_u32(active) < 4) {
      update_scalar(e0, e0 + 8, F, p, g, m, v, steps, touched, k, bias);
      continue;
    }
    // Inactive lanes read as step 0 + 1: a valid table index whose factors are never stored.
    const __m256i s = _mm256_add_epi32(_mm256_maskz_loadu_epi32(active, steps + e0), _mm256_set1_epi32(1));
    __m512 step_size8, inv_sqrt_bc2_8;
    if (!_mm256_mask_cmplt_epi32_mask(active, s, saturated)) {
      step_size8 = _mm512_set1_ps(float(bias.lr));
      inv_sqrt_bc2_8 = _mm512_set1_ps(1.f);
    } else if (!_mm256_mask_cmpge_epi32_mask(active, s, n_small)) {
      step_size8 = _mm512_zextps256_ps512(_mm256_i32gather_ps(bias.small_step_size.data(), s, 4));
      inv_sqrt_bc2_8 = _mm512_zextps256_ps512(_mm256_i32gather_ps(bias.small_inv_sqrt_bc2.data(), s, 4));
    } else if (!_mm256_mask_cmpge_epi32_mask(active, s, max_table_step)) {
      const __m256i s_lo = _mm256_and_si256(s, lo_mask), s_hi = _mm256_srli_epi32(s, kTableBits);
      const __m512d p1 = _mm512_mul_pd(_mm512_i32gather_pd(s_lo, bias.pow1.lo.data(), 8),
                                       _mm512_i32gather_pd(s_hi, bias.pow1.hi.data(), 8));
      const __m512d p2 = _mm512_mul_pd(_mm512_i32gather_pd(s_lo, bias.pow2.lo.data(), 8),
                                       _mm512_i32gather_pd(s_hi, bias.pow2.hi.data(), 8));
      step_size8 = _mm512_zextps256_ps512(_mm512_cvtpd_ps(_mm512_div_pd(lr_d, _mm512_sub_pd(one_d, p1))));
      inv_sqrt_bc2_8 =
          _mm512_zextps256_ps512(_mm512_cvtpd_ps(_mm512_div_pd(one_d, _mm512_sqrt_pd(_mm512_sub_pd(one_d, p2)))));
    } else {
      update_scalar(e0, e0 + 8, F, p, g, m, v, steps, touched, k, bias);
      continue;
    }
    _mm256_mask_storeu_epi32(steps + e0, active, s);
    const __m512i flags32 = _mm512_cvtepu8_epi32(flags);

    for (int q = 0; q < n_vec; ++q) {
      const __m512i lanes = _mm512_loadu_si512(lane_entry.data() + 16 * q);
      const __mmask16 mask =
          _mm512_mask_test_epi32_mask(lane_valid[size_t(q)], _mm512_permutexvar_epi32(lanes, flags32),
                                      _mm512_permutexvar_epi32(lanes, flags32));
      if (!mask) continue;
      const int64_t j = e0 * F + 16 * q;
      const __m512 step_size = _mm512_permutexvar_ps(lanes, step_size8);
      const __m512 inv_sqrt_bc2 = _mm512_permutexvar_ps(lanes, inv_sqrt_bc2_8);
      const bool full = mask == 0xFFFF;
      const __m512 pj = full ? _mm512_loadu_ps(p + j) : _mm512_maskz_loadu_ps(mask, p + j);
      const __m512 g0 = full ? _mm512_loadu_ps(g + j) : _mm512_maskz_loadu_ps(mask, g + j);
      const __m512 m0 = full ? _mm512_loadu_ps(m + j) : _mm512_maskz_loadu_ps(mask, m + j);
      const __m512 v0 = full ? _mm512_loadu_ps(v + j) : _mm512_maskz_loadu_ps(mask, v + j);
      const __m512 gj = _mm512_fmadd_ps(wd, pj, g0);
      const __m512 mj = _mm512_fmadd_ps(b1, m0, _mm512_mul_ps(omb1, gj));
      const __m512 vj = _mm512_fmadd_ps(b2, v0, _mm512_mul_ps(omb2, _mm512_mul_ps(gj, gj)));
      const __m512 denom = _mm512_fmadd_ps(_mm512_sqrt_ps(vj), inv_sqrt_bc2, eps);
      const __m512 pn = _mm512_sub_ps(pj, _mm512_div_ps(_mm512_mul_ps(step_size, mj), denom));
      if (full) {
        _mm512_storeu_ps(p + j, pn);
        _mm512_storeu_ps(m + j, mj);
        _mm512_storeu_ps(v + j, vj);
        _mm512_storeu_ps(g + j, _mm512_setzero_ps());
      } else {
        _mm512_mask_storeu_ps(p + j, mask, pn);
        _mm512_mask_storeu_ps(m + j, mask, mj);
        _mm512_mask_storeu_ps(v + j, mask, vj);
        _mm512_mask_storeu_ps(g + j, mask, _mm512_setzero_ps());
      }
    }
    _mm_mask_storeu_epi8(touched + e0, active, _mm_setzero_si128());
  }
  update_scalar(e0, end, F, p, g, m, v, steps, touched, k, bias);
}

#pragma GCC diagnostic pop

#endif  // SEMFIELD_SPARSE_ADAM_AVX512

void check_state(const char* op, const char* name, const at::Tensor& t, at::ScalarType dtype, int64_t numel,
                 const char* what) {
  detail::check_dtype(op, name, t, dtype);
  TORCH_CHECK(t.dim() == 1 && t.numel() == numel, op, ": ", name, " must have shape [", numel, "] (", what,
              "), got ", t.sizes());
  detail::check_contiguous(op, name, t);
}

}  // namespace

void sparse_adam_step(at::Tensor& params, at::Tensor& grad, at::Tensor& exp_avg, at::Tensor& exp_avg_sq,
                      at::Tensor& entry_steps, at::Tensor& touched, int n_features, const AdamHyper& hyper) {
  constexpr const char* op = "sparse_adam_step";
  TORCH_CHECK(n_features >= 1, op, ": n_features must be >= 1, got ", n_features);
  detail::check_defined(op, "touched", touched);
  TORCH_CHECK(touched.dim() == 1, op, ": touched must be 1-D [n_entries], got shape ", touched.sizes());
  const int64_t E = touched.size(0);
  check_state(op, "touched", touched, at::kByte, E, "n_entries");
  check_state(op, "params", params, at::kFloat, E * n_features, "n_entries * n_features");
  check_state(op, "grad", grad, at::kFloat, E * n_features, "n_entries * n_features");
  check_state(op, "exp_avg", exp_avg, at::kFloat, E * n_features, "n_entries * n_features");
  check_state(op, "exp_avg_sq", exp_avg_sq, at::kFloat, E * n_features, "n_entries * n_features");
  check_state(op, "entry_steps", entry_steps, at::kInt, E, "n_entries");
  TORCH_CHECK(hyper.lr >= 0 && hyper.eps >= 0 && hyper.weight_decay >= 0, op,
              ": lr, eps and weight_decay must be >= 0, got lr ", hyper.lr, ", eps ", hyper.eps, ", weight_decay ",
              hyper.weight_decay);
  TORCH_CHECK(hyper.beta1 >= 0 && hyper.beta1 < 1 && hyper.beta2 >= 0 && hyper.beta2 < 1, op,
              ": beta1 and beta2 must be in [0, 1), got ", hyper.beta1, " and ", hyper.beta2);
  detail::require_cpu(op, {{"params", &params}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq},
                           {"entry_steps", &entry_steps}, {"touched", &touched}});
  if (E == 0) return;

  const BiasFactors bias(hyper);
  const AdamConstants k{float(hyper.beta1),       float(hyper.beta2), float(1.0 - hyper.beta1),
                        float(1.0 - hyper.beta2), float(hyper.eps),   float(hyper.weight_decay)};
  float* p = params.data_ptr<float>();
  float* g = grad.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  int32_t* steps = entry_steps.data_ptr<int32_t>();
  uint8_t* t = touched.data_ptr<uint8_t>();
  const int F = n_features;
  // Chunks start on multiples of 8 entries (the vector width in entries).
  constexpr int64_t kBlock = 8;
  at::parallel_for(0, (E + kBlock - 1) / kBlock, 2048, [&](int64_t bb, int64_t be) {
    const int64_t begin = bb * kBlock, end = std::min(E, be * kBlock);
#ifdef SEMFIELD_SPARSE_ADAM_AVX512
    update_avx512(begin, end, F, p, g, m, v, steps, t, k, bias);
#else
    update_scalar(begin, end, F, p, g, m, v, steps, t, k, bias);
#endif
  });
}

}  // namespace semfield::kernels
