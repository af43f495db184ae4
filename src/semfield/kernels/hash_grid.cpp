// Multiresolution hash-grid encoding: level maths, multithreaded AVX-512 / scalar CPU kernels, the autograd
// wrapper and the plain-LibTorch reference.
//
// Memory behaviour drives the design. With instant-ngp's default spec the tables hold ~6.1M entries (49 MB
// of float32 for F = 2): more than the last-level cache, while a single 2^19-entry level (4 MB) fits. So
// both kernels walk the levels in the outer loop and all points in the inner loop: each level's table is
// pulled into cache once per pass instead of once per point. The price is a level-major scratch
// ([L][N][F]) that is transposed to / from the caller's [N, L*F] layout in one streaming pass; writing the
// strided [N, L*F] rows directly per level would instead touch every output cache line once per level.
//
// Forward: threads split the points; each thread runs its slice level by level.
// Backward: threads split the levels (levels are independent tables, so the scatter-adds never race and
// the result is deterministic); each thread runs all points of a level, finest (dearest) levels first.
#include "semfield/kernels/hash_grid.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "semfield/kernels/huge_page_tensor.h"
#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

// The spatial-hash primes of instant-ngp. The x prime is 1 so that the two x-neighbours of a cell usually
// land in the same cache line (their indices differ in the low bits only).
constexpr uint32_t kPrimeY = 2654435761u;
constexpr uint32_t kPrimeZ = 805459861u;

// Keeps (N+1)^3 and the reference's int64 hash products far from overflow.
constexpr int64_t kMaxResolution = (int64_t(1) << 20);

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

int64_t vertex_count(int resolution) {
  const int64_t side = int64_t(resolution) + 1;
  if (side > kMaxResolution + 1) return std::numeric_limits<int64_t>::max();
  return side * side * side;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Level maths
// ---------------------------------------------------------------------------------------------------------

int HashGridSpec::resolution(int level) const {
  const double n = std::floor(base_resolution * std::pow(per_level_scale, level));
  return static_cast<int>(std::min(n, double(std::numeric_limits<int>::max())));
}

int64_t HashGridSpec::level_entries(int level) const {
  const int64_t cap = int64_t(1) << log2_table_size;
  return round_up(std::min(cap, vertex_count(resolution(level))), 8);
}

int64_t HashGridSpec::level_offset(int level) const {
  int64_t offset = 0;
  for (int l = 0; l < level; ++l) offset += level_entries(l);
  return offset;
}

int64_t HashGridSpec::n_entries() const { return level_offset(n_levels); }

double HashGridSpec::scale_for(int base_resolution, int finest_resolution, int n_levels) {
  if (n_levels <= 1 || finest_resolution <= base_resolution) return 1.0;
  const int last = n_levels - 1;
  double b = std::exp(std::log(double(finest_resolution) / base_resolution) / last);
  // exp/log round: 16 * b^15 lands on 2047.999... for the default spec. Nudge b up by ulps until the
  // floor in resolution() gives exactly the requested finest resolution.
  for (int i = 0; i < 64 && std::floor(base_resolution * std::pow(b, last)) < finest_resolution; ++i)
    b = std::nextafter(b, std::numeric_limits<double>::infinity());
  return b;
}

namespace {

/// Per-level constants the kernels need, precomputed once per call.
struct LevelGeometry {
  float scale = 0;          // N_l as float: p = x * N_l
  bool dense = false;       // index = x + y*stride_y + z*stride_z, else hash & mask
  uint32_t stride_y = 0, stride_z = 0, mask = 0;
  int64_t offset = 0;       // first entry of the level
  int64_t entries = 0;      // T_l
};

void check_spec(const char* op, const HashGridSpec& spec) {
  TORCH_CHECK(spec.n_levels >= 1 && spec.n_levels <= 64, op, ": spec.n_levels must be in [1, 64], got ",
              spec.n_levels);
  TORCH_CHECK(spec.n_features >= 1 && spec.n_features <= 64, op, ": spec.n_features must be in [1, 64], got ",
              spec.n_features);
  TORCH_CHECK(spec.log2_table_size >= 1 && spec.log2_table_size <= 30, op,
              ": spec.log2_table_size must be in [1, 30], got ", spec.log2_table_size);
  TORCH_CHECK(spec.base_resolution >= 1, op, ": spec.base_resolution must be >= 1, got ", spec.base_resolution);
  TORCH_CHECK(std::isfinite(spec.per_level_scale) && spec.per_level_scale > 0, op,
              ": spec.per_level_scale must be finite and > 0, got ", spec.per_level_scale);
  for (int l = 0; l < spec.n_levels; ++l) {
    const int n = spec.resolution(l);
    TORCH_CHECK(n >= 1 && n <= kMaxResolution, op, ": level ", l, " has resolution ", n, ", outside [1, ",
                kMaxResolution, "] (check base_resolution and per_level_scale)");
  }
}

std::vector<LevelGeometry> level_geometry(const HashGridSpec& spec) {
  std::vector<LevelGeometry> levels(spec.n_levels);
  int64_t offset = 0;
  for (int l = 0; l < spec.n_levels; ++l) {
    LevelGeometry& g = levels[l];
    const int n = spec.resolution(l);
    g.scale = float(n);
    g.entries = spec.level_entries(l);
    g.offset = offset;
    offset += g.entries;
    // Dense when every vertex has its own entry; hashed tables have T_l = 2^max(log2_table_size, 3).
    g.dense = vertex_count(n) <= g.entries;
    g.stride_y = uint32_t(n + 1);
    g.stride_z = uint32_t(n + 1) * uint32_t(n + 1);
    g.mask = uint32_t(g.entries - 1);
    TORCH_INTERNAL_ASSERT(g.dense || (g.entries & (g.entries - 1)) == 0, "hashed level size not a power of 2");
  }
  return levels;
}

// NaN maps to 0 so that no input can index outside a table.
inline float clamp01(float v) {
  v = v > 0.f ? v : 0.f;
  return v < 1.f ? v : 1.f;
}

/// Cell and fractional position of one coordinate; the same float operations as the AVX-512 path and the
/// reference, so all three agree on the cell of points on cell boundaries.
inline void locate(float x, float scale, uint32_t& cell, float& frac) {
  const float p = x * scale;
  const float c = std::min(std::floor(p), scale - 1.f);
  cell = uint32_t(c);
  frac = p - c;
}

inline uint32_t corner_index(const LevelGeometry& g, uint32_t x, uint32_t y, uint32_t z) {
  if (g.dense) return x + y * g.stride_y + z * g.stride_z;
  return (x ^ (y * kPrimeY) ^ (z * kPrimeZ)) & g.mask;
}

/// The 8 corner indices (within the level) and trilinear weights of one point; corner c has x offset
/// c & 1, y offset (c >> 1) & 1, z offset c >> 2.
struct PointCorners {
  uint32_t idx[8];
  float w[8];
};

inline void point_corners(const LevelGeometry& g, float x, float y, float z, PointCorners& out) {
  uint32_t cx, cy, cz;
  float fx, fy, fz;
  locate(x, g.scale, cx, fx);
  locate(y, g.scale, cy, fy);
  locate(z, g.scale, cz, fz);
  const float wx[2] = {1.f - fx, fx}, wy[2] = {1.f - fy, fy}, wz[2] = {1.f - fz, fz};
  for (int c = 0; c < 8; ++c) {
    const int ox = c & 1, oy = (c >> 1) & 1, oz = c >> 2;
    out.idx[c] = corner_index(g, cx + ox, cy + oy, cz + oz);
    out.w[c] = (wx[ox] * wy[oy]) * wz[oz];
  }
}

// Scalar forward and backward of one level (any F; without AVX-512 also F = 2), with the AVX-512 path's latency
// hiding: the corners of the next block of points are computed ahead and their table rows prefetched into L2 while
// the current block is summed, so the cache misses of hashed lookups (which no hardware prefetcher predicts) overlap
// useful work; for F = 2 the sums stay in registers. Measured on a 2-core AVX2 VM without AVX-512 (AMD EPYC, family
// 25), 2^18 points, 16 levels x F = 2, 2 threads (kernels_bench BM_HashGrid*/0): forward 116 -> 40 ms, backward
// 105 -> 56 ms against the plain scalar loops.
constexpr int kPrefetchBlock = 16;

struct ScalarCornerBlock {
  PointCorners corners[kPrefetchBlock];
};

inline void prepare_scalar_block(const LevelGeometry& g, const float* x, const float* y, const float* z, int64_t n,
                                 const char* rows, int64_t row_bytes, ScalarCornerBlock& block) {
  for (int64_t k = 0; k < n; ++k) {
    point_corners(g, x[k], y[k], z[k], block.corners[k]);
    for (int c = 0; c < 8; ++c) __builtin_prefetch(rows + row_bytes * block.corners[k].idx[c], 0, 2);
  }
}

// Walks points [0, n) in blocks of kPrefetchBlock: per_block(first, corners, count) gets points first .. first +
// count - 1 after the next block's corners are computed and their rows of `table` (F floats each) prefetched.
template <typename PerBlock>
void for_each_block_prefetched(const LevelGeometry& g, const float* table, int F, const float* x, const float* y,
                               const float* z, int64_t n, const PerBlock& per_block) {
  const char* rows = reinterpret_cast<const char*>(table);
  const int64_t row_bytes = int64_t(F) * int64_t(sizeof(float));
  ScalarCornerBlock blocks[2];
  if (n > 0) prepare_scalar_block(g, x, y, z, std::min<int64_t>(kPrefetchBlock, n), rows, row_bytes, blocks[0]);
  for (int64_t i = 0, cur = 0; i < n; i += kPrefetchBlock, cur ^= 1) {
    const int64_t next = i + kPrefetchBlock;
    if (next < n)
      prepare_scalar_block(g, x + next, y + next, z + next, std::min<int64_t>(kPrefetchBlock, n - next), rows,
                           row_bytes, blocks[cur ^ 1]);
    per_block(i, blocks[cur].corners, std::min<int64_t>(kPrefetchBlock, n - i));
  }
}

void encode_level_prefetched(const LevelGeometry& g, const float* level_params, int F, const float* x, const float* y,
                             const float* z, int64_t n, float* feat) {
  for_each_block_prefetched(g, level_params, F, x, y, z, n, [=](int64_t first, const PointCorners* corners,
                                                                int64_t count) {
    if (F == 2) {  // the default: sums kept in registers
      for (int64_t k = 0; k < count; ++k) {
        const PointCorners& pc = corners[k];
        float f0 = 0.f, f1 = 0.f;
        for (int c = 0; c < 8; ++c) {
          const float* src = level_params + 2 * int64_t(pc.idx[c]);
          f0 += pc.w[c] * src[0];
          f1 += pc.w[c] * src[1];
        }
        feat[2 * (first + k)] = f0;
        feat[2 * (first + k) + 1] = f1;
      }
      return;
    }
    for (int64_t k = 0; k < count; ++k) {
      const PointCorners& pc = corners[k];
      float* out = feat + (first + k) * F;
      for (int f = 0; f < F; ++f) out[f] = 0.f;
      for (int c = 0; c < 8; ++c) {
        const float* src = level_params + int64_t(pc.idx[c]) * F;
        for (int f = 0; f < F; ++f) out[f] += pc.w[c] * src[f];
      }
    }
  });
}

void accumulate_level_prefetched(const LevelGeometry& g, float* level_grad, uint8_t* level_touched, int F,
                                 const float* x, const float* y, const float* z, const float* G, int64_t n) {
  for_each_block_prefetched(g, level_grad, F, x, y, z, n, [=](int64_t first, const PointCorners* corners,
                                                              int64_t count) {
    if (F == 2) {  // the default: the point's gradient kept in registers
      for (int64_t k = 0; k < count; ++k) {
        const PointCorners& pc = corners[k];
        const float g0 = G[2 * (first + k)], g1 = G[2 * (first + k) + 1];
        for (int c = 0; c < 8; ++c) {
          float* dst = level_grad + 2 * int64_t(pc.idx[c]);
          dst[0] += pc.w[c] * g0;
          dst[1] += pc.w[c] * g1;
          if (level_touched) level_touched[pc.idx[c]] = 1;
        }
      }
      return;
    }
    for (int64_t k = 0; k < count; ++k) {
      const PointCorners& pc = corners[k];
      const float* gi = G + (first + k) * F;
      for (int c = 0; c < 8; ++c) {
        float* dst = level_grad + int64_t(pc.idx[c]) * F;
        for (int f = 0; f < F; ++f) dst[f] += pc.w[c] * gi[f];
        if (level_touched) level_touched[pc.idx[c]] = 1;
      }
    }
  });
}

#ifdef __AVX512F__

// GCC 12's AVX-512 headers seed unmasked intrinsics with _mm512_undefined_*(), which it then reports as
// "may be used uninitialized" once inlined (a false positive in the system header, fixed in later GCC).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

/// Corner indices and weights of 16 points at once (lane k = point k), same maths as point_corners.
struct Corners16 {
  __m512i idx[8];
  __m512 w[8];
};

inline void axis16(const float* src, __m512 scale, __m512 max_cell, __m512i& cell, __m512 w[2]) {
  const __m512 p = _mm512_mul_ps(_mm512_loadu_ps(src), scale);
  const __m512 c = _mm512_min_ps(_mm512_roundscale_ps(p, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), max_cell);
  cell = _mm512_cvttps_epi32(c);
  w[1] = _mm512_sub_ps(p, c);
  w[0] = _mm512_sub_ps(_mm512_set1_ps(1.f), w[1]);
}

inline void corners16(const LevelGeometry& g, const float* x, const float* y, const float* z, Corners16& out) {
  const __m512 scale = _mm512_set1_ps(g.scale);
  const __m512 max_cell = _mm512_set1_ps(g.scale - 1.f);
  __m512i cx, cy, cz;
  __m512 wx[2], wy[2], wz[2];
  axis16(x, scale, max_cell, cx, wx);
  axis16(y, scale, max_cell, cy, wy);
  axis16(z, scale, max_cell, cz, wz);
  __m512i hx[2], hy[2], hz[2];
  hx[0] = cx;
  hx[1] = _mm512_add_epi32(cx, _mm512_set1_epi32(1));
  if (g.dense) {
    const __m512i sy = _mm512_set1_epi32(int(g.stride_y)), sz = _mm512_set1_epi32(int(g.stride_z));
    hy[0] = _mm512_mullo_epi32(cy, sy);
    hy[1] = _mm512_add_epi32(hy[0], sy);
    hz[0] = _mm512_mullo_epi32(cz, sz);
    hz[1] = _mm512_add_epi32(hz[0], sz);
    for (int c = 0; c < 8; ++c)
      out.idx[c] = _mm512_add_epi32(_mm512_add_epi32(hx[c & 1], hy[(c >> 1) & 1]), hz[c >> 2]);
  } else {
    // (y+1)*P = y*P + P (mod 2^32): one multiply per axis.
    const __m512i py = _mm512_set1_epi32(int(kPrimeY)), pz = _mm512_set1_epi32(int(kPrimeZ));
    const __m512i mask = _mm512_set1_epi32(int(g.mask));
    hy[0] = _mm512_mullo_epi32(cy, py);
    hy[1] = _mm512_add_epi32(hy[0], py);
    hz[0] = _mm512_mullo_epi32(cz, pz);
    hz[1] = _mm512_add_epi32(hz[0], pz);
    for (int c = 0; c < 8; ++c)
      out.idx[c] = _mm512_and_epi32(_mm512_xor_epi32(_mm512_xor_epi32(hx[c & 1], hy[(c >> 1) & 1]), hz[c >> 2]),
                                    mask);
  }
  for (int c = 0; c < 8; ++c) out.w[c] = _mm512_mul_ps(_mm512_mul_ps(wx[c & 1], wy[(c >> 1) & 1]), wz[c >> 2]);
}

/// Corners of one group of 16 points, stored for scalar access. prepare_block also prefetches (into L2)
/// every table row the group will touch: the kernels prepare group i+1 before working on group i, so its
/// cache misses overlap group i's work (measured: forward -13%, backward -20% single-threaded and -40%
/// with two threads on a Zen 5 part; hardware prefetchers cannot predict hashed addresses).
struct CornerBlock {
  alignas(64) uint32_t idx[8][16];
  alignas(64) float w[8][16];
};

inline void prepare_block(const LevelGeometry& g, const float* x, const float* y, const float* z, const char* rows,
                          int64_t row_bytes, CornerBlock& block) {
  Corners16 cs;
  corners16(g, x, y, z, cs);
  for (int c = 0; c < 8; ++c) {
    _mm512_store_si512(block.idx[c], cs.idx[c]);
    _mm512_store_ps(block.w[c], cs.w[c]);
  }
  for (int c = 0; c < 8; ++c)
    for (int k = 0; k < 16; ++k) _mm_prefetch(rows + row_bytes * block.idx[c][k], _MM_HINT_T1);
}

/// F = 2 forward of one level, n a multiple of 16. An entry is 8 bytes: each corner of 8 points is
/// assembled from eight 64-bit loads into one vector of (f0, f1) pairs, and the weights are duplicated
/// into lane pairs to match. Scalar loads beat vpgatherdq here (measured ~25% faster on Zen 5: the
/// loads are cache-miss bound either way and the gather adds its own overhead).
void encode_level_f2(const LevelGeometry& g, const float* level_params, const float* x, const float* y,
                     const float* z, int64_t n, float* feat) {
  const auto* base = reinterpret_cast<const uint64_t*>(level_params);
  const char* rows = reinterpret_cast<const char*>(level_params);
  const __m512i dup_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i dup_hi = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  CornerBlock blocks[2];
  if (n > 0) prepare_block(g, x, y, z, rows, 8, blocks[0]);
  for (int64_t i = 0, cur = 0; i < n; i += 16, cur ^= 1) {
    if (i + 16 < n) prepare_block(g, x + i + 16, y + i + 16, z + i + 16, rows, 8, blocks[cur ^ 1]);
    const CornerBlock& b = blocks[cur];
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    for (int c = 0; c < 8; ++c) {
      const uint32_t* ic = b.idx[c];
      const __m512 wc = _mm512_load_ps(b.w[c]);
      const __m512i vlo = _mm512_set_epi64(base[ic[7]], base[ic[6]], base[ic[5]], base[ic[4]], base[ic[3]],
                                           base[ic[2]], base[ic[1]], base[ic[0]]);
      const __m512i vhi = _mm512_set_epi64(base[ic[15]], base[ic[14]], base[ic[13]], base[ic[12]], base[ic[11]],
                                           base[ic[10]], base[ic[9]], base[ic[8]]);
      lo = _mm512_fmadd_ps(_mm512_permutexvar_ps(dup_lo, wc), _mm512_castsi512_ps(vlo), lo);
      hi = _mm512_fmadd_ps(_mm512_permutexvar_ps(dup_hi, wc), _mm512_castsi512_ps(vhi), hi);
    }
    _mm512_storeu_ps(feat + 2 * i, lo);
    _mm512_storeu_ps(feat + 2 * i + 16, hi);
  }
}

/// In-place transpose of an 8x8 matrix of 64-bit elements held as 8 row vectors.
inline void transpose8x8_epi64(__m512i r[8]) {
  __m512i t[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm512_unpacklo_epi64(r[2 * k], r[2 * k + 1]);      // r_2k[0], r_2k+1[0], r_2k[2], ...
    t[2 * k + 1] = _mm512_unpackhi_epi64(r[2 * k], r[2 * k + 1]);  // r_2k[1], r_2k+1[1], r_2k[3], ...
  }
  const __m512i pairs_lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
  const __m512i pairs_hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  __m512i u[8];
  for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) and 4-7 (h = 1)
    const __m512i* th = t + 4 * h;
    u[4 * h + 0] = _mm512_permutex2var_epi64(th[0], pairs_lo, th[2]);  // columns 0 and 4
    u[4 * h + 1] = _mm512_permutex2var_epi64(th[1], pairs_lo, th[3]);  // columns 1 and 5
    u[4 * h + 2] = _mm512_permutex2var_epi64(th[0], pairs_hi, th[2]);  // columns 2 and 6
    u[4 * h + 3] = _mm512_permutex2var_epi64(th[1], pairs_hi, th[3]);  // columns 3 and 7
  }
  const __m512i halves_lo = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
  const __m512i halves_hi = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_permutex2var_epi64(u[c], halves_lo, u[4 + c]);
    r[c + 4] = _mm512_permutex2var_epi64(u[c], halves_hi, u[4 + c]);
  }
}

/// Level-major [L][n_lm][2] -> rows [N][L*2] for rows [begin, end), 8 rows x 8 levels per step.
void level_major_to_rows_f2(const float* lm, int64_t n_lm, int L, int64_t begin, int64_t end, float* rows) {
  const int64_t row = 2 * int64_t(L);
  int64_t i = begin;
  __m512i r[8];
  for (; i + 8 <= end; i += 8) {
    int l0 = 0;
    for (; l0 + 8 <= L; l0 += 8) {
      for (int j = 0; j < 8; ++j) r[j] = _mm512_loadu_si512(lm + ((l0 + j) * n_lm + i) * 2);
      transpose8x8_epi64(r);
      for (int k = 0; k < 8; ++k) _mm512_storeu_si512(rows + (i + k) * row + 2 * l0, r[k]);
    }
    for (int l = l0; l < L; ++l)
      for (int64_t k = i; k < i + 8; ++k) std::memcpy(rows + k * row + 2 * l, lm + (l * n_lm + k) * 2, 8);
  }
  for (; i < end; ++i)
    for (int l = 0; l < L; ++l) std::memcpy(rows + i * row + 2 * l, lm + (l * n_lm + i) * 2, 8);
}

/// Rows [N][L*2] (contiguous) -> level-major [L][n_lm][2] for rows [begin, end).
void rows_to_level_major_f2(const float* rows, int L, int64_t begin, int64_t end, int64_t n_lm, float* lm) {
  const int64_t row = 2 * int64_t(L);
  int64_t i = begin;
  __m512i r[8];
  for (; i + 8 <= end; i += 8) {
    int l0 = 0;
    for (; l0 + 8 <= L; l0 += 8) {
      for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_si512(rows + (i + k) * row + 2 * l0);
      transpose8x8_epi64(r);
      for (int j = 0; j < 8; ++j) _mm512_storeu_si512(lm + ((l0 + j) * n_lm + i) * 2, r[j]);
    }
    for (int l = l0; l < L; ++l)
      for (int64_t k = i; k < i + 8; ++k) std::memcpy(lm + (l * n_lm + k) * 2, rows + k * row + 2 * l, 8);
  }
  for (; i < end; ++i)
    for (int l = 0; l < L; ++l) std::memcpy(lm + (l * n_lm + i) * 2, rows + i * row + 2 * l, 8);
}

/// F = 2 backward of one level for points [0, n): vectorised corners, scalar 8-byte read-modify-writes
/// (the scatter-add must see earlier updates of the same entry, so it stays sequential).
template <bool kTouched>
void accumulate_level_f2(const LevelGeometry& g, float* level_grad, uint8_t* level_touched, const float* x,
                         const float* y, const float* z, const float* G, int64_t n) {
  const char* rows = reinterpret_cast<const char*>(level_grad);
  const int64_t n_full = n / 16 * 16;
  CornerBlock blocks[2];
  if (n_full > 0) prepare_block(g, x, y, z, rows, 8, blocks[0]);
  for (int64_t i = 0, cur = 0; i < n_full; i += 16, cur ^= 1) {
    if (i + 16 < n_full) prepare_block(g, x + i + 16, y + i + 16, z + i + 16, rows, 8, blocks[cur ^ 1]);
    const CornerBlock& b = blocks[cur];
    for (int k = 0; k < 16; ++k) {
      const __m128 gk = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(G + 2 * (i + k))));
      for (int c = 0; c < 8; ++c) {
        auto* dst = reinterpret_cast<__m128i*>(level_grad + 2 * int64_t(b.idx[c][k]));
        const __m128 acc = _mm_castsi128_ps(_mm_loadl_epi64(dst));
        _mm_storel_epi64(dst, _mm_castps_si128(_mm_fmadd_ps(_mm_set1_ps(b.w[c][k]), gk, acc)));
        if constexpr (kTouched) level_touched[b.idx[c][k]] = 1;
      }
    }
  }
  accumulate_level_prefetched(g, level_grad, kTouched ? level_touched : nullptr, 2, x + n_full, y + n_full, z + n_full,
                              G + 2 * n_full, n - n_full);
}

#pragma GCC diagnostic pop

#endif  // __AVX512F__

void encode_level(const LevelGeometry& g, const float* level_params, int F, const float* x, const float* y,
                  const float* z, int64_t n, float* feat) {
#ifdef __AVX512F__
  if (F == 2) return encode_level_f2(g, level_params, x, y, z, n, feat);
#endif
  encode_level_prefetched(g, level_params, F, x, y, z, n, feat);
}

void accumulate_level(const LevelGeometry& g, float* level_grad, uint8_t* level_touched, int F, const float* x,
                      const float* y, const float* z, const float* G, int64_t n) {
#ifdef __AVX512F__
  if (F == 2) {
    if (level_touched) return accumulate_level_f2<true>(g, level_grad, level_touched, x, y, z, G, n);
    return accumulate_level_f2<false>(g, level_grad, nullptr, x, y, z, G, n);
  }
#endif
  accumulate_level_prefetched(g, level_grad, level_touched, F, x, y, z, G, n);
}

/// Clamped SoA copy of xyz rows [begin, end) (any strides); rows in [N, end) are padding set to 0.
void gather_xyz(const at::TensorAccessor<float, 2>& xyz, int64_t N, int64_t begin, int64_t end, float* x,
                float* y, float* z) {
  for (int64_t i = begin; i < end; ++i) {
    const bool real = i < N;
    x[i] = real ? clamp01(xyz[i][0]) : 0.f;
    y[i] = real ? clamp01(xyz[i][1]) : 0.f;
    z[i] = real ? clamp01(xyz[i][2]) : 0.f;
  }
}

constexpr int64_t kGroup = 16;          // points per vector step
constexpr int64_t kGrainGroups = 64;    // at least 1024 points per thread

void check_xyz(const char* op, const at::Tensor& xyz) {
  detail::check_dtype(op, "xyz", xyz, at::kFloat);
  detail::check_dim(op, "xyz", xyz, 2);
  detail::check_size(op, "xyz", xyz, 1, 3, "x, y, z");
}

/// Level-major [L][n_lm][F] -> rows [N][L*F] for rows [begin, end).
void level_major_to_rows(const float* lm, int64_t n_lm, int L, int F, int64_t begin, int64_t end, float* rows) {
#ifdef __AVX512F__
  if (F == 2) return level_major_to_rows_f2(lm, n_lm, L, begin, end, rows);
#endif
  const int64_t row = int64_t(L) * F;
  for (int64_t i = begin; i < end; ++i)
    for (int l = 0; l < L; ++l) std::memcpy(rows + i * row + l * F, lm + (l * n_lm + i) * F, sizeof(float) * F);
}

at::Tensor hash_grid_forward_cpu(const at::Tensor& xyz, const at::Tensor& params_in, const HashGridSpec& spec) {
  const int64_t N = xyz.size(0);
  const int L = spec.n_levels, F = spec.n_features;
  at::Tensor out = detail::empty_huge_page({N, int64_t(L) * F}, at::kFloat);
  if (N == 0) return out;
  const at::Tensor params = params_in.contiguous();
  const float* P = params.data_ptr<float>();
  const std::vector<LevelGeometry> levels = level_geometry(spec);
  const auto xyz_a = xyz.accessor<float, 2>();

  const int64_t n_pad = round_up(N, kGroup);
  at::Tensor soa = detail::empty_huge_page({3, n_pad}, at::kFloat);
  at::Tensor feat = detail::empty_huge_page({int64_t(L), n_pad, F}, at::kFloat);
  float* sx = soa[0].data_ptr<float>();
  float* sy = soa[1].data_ptr<float>();
  float* sz = soa[2].data_ptr<float>();
  float* fm = feat.data_ptr<float>();
  float* o = out.data_ptr<float>();

  at::parallel_for(0, n_pad / kGroup, kGrainGroups, [&](int64_t gb, int64_t ge) {
    const int64_t b = gb * kGroup, e = ge * kGroup;
    gather_xyz(xyz_a, N, b, e, sx, sy, sz);
    for (int l = 0; l < L; ++l) {
      const LevelGeometry& g = levels[l];
      encode_level(g, P + g.offset * F, F, sx + b, sy + b, sz + b, e - b, fm + (l * n_pad + b) * F);
    }
    level_major_to_rows(fm, n_pad, L, F, b, std::min(e, N), o);
  });
  return out;
}

void hash_grid_backward_cpu(const at::Tensor& dL_dfeatures, const at::Tensor& xyz, const HashGridSpec& spec,
                            at::Tensor& dL_dparams, const at::Tensor& touched) {
  const int64_t N = xyz.size(0);
  if (N == 0) return;
  const int L = spec.n_levels, F = spec.n_features;
  const std::vector<LevelGeometry> levels = level_geometry(spec);
  const auto xyz_a = xyz.accessor<float, 2>();
  const auto dl_a = dL_dfeatures.accessor<float, 2>();

  at::Tensor soa = detail::empty_huge_page({3, N}, at::kFloat);
  at::Tensor grad_lm = detail::empty_huge_page({int64_t(L), N, F}, at::kFloat);
  float* sx = soa[0].data_ptr<float>();
  float* sy = soa[1].data_ptr<float>();
  float* sz = soa[2].data_ptr<float>();
  float* G = grad_lm.data_ptr<float>();

  // [N, L*F] (any strides) -> level-major [L][N][F], plus the clamped SoA coordinates.
  const bool contiguous = dL_dfeatures.is_contiguous();
  const float* dl = dL_dfeatures.data_ptr<float>();
  at::parallel_for(0, N, kGrainGroups * kGroup, [&](int64_t b, int64_t e) {
    gather_xyz(xyz_a, N, b, e, sx, sy, sz);
#ifdef __AVX512F__
    if (contiguous && F == 2) return rows_to_level_major_f2(dl, L, b, e, N, G);
#endif
    for (int64_t i = b; i < e; ++i)
      for (int l = 0; l < L; ++l)
        for (int f = 0; f < F; ++f) G[(l * N + i) * F + f] = contiguous ? dl[(i * L + l) * F + f] : dl_a[i][l * F + f];
  });

  float* grad = dL_dparams.data_ptr<float>();
  uint8_t* touch = touched.defined() ? touched.data_ptr<uint8_t>() : nullptr;
  // Dynamic level scheduling, finest levels first: they cost the most (cache misses), so the cheap dense
  // levels fill the gaps at the end.
  std::atomic<int> next{0};
  const int n_workers = std::max(1, std::min(at::get_num_threads(), L));
  at::parallel_for(0, n_workers, 1, [&](int64_t, int64_t) {
    for (int k = next.fetch_add(1); k < L; k = next.fetch_add(1)) {
      const int l = L - 1 - k;
      const LevelGeometry& g = levels[l];
      accumulate_level(g, grad + g.offset * F, touch ? touch + g.offset : nullptr, F, sx, sy, sz, G + l * N * F, N);
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Public entry points: validate, then dispatch on device (CPU only for now).
// ---------------------------------------------------------------------------------------------------------

at::Tensor hash_grid_forward(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec) {
  constexpr const char* op = "hash_grid_forward";
  check_spec(op, spec);
  check_xyz(op, xyz);
  detail::check_dtype(op, "params", params, at::kFloat);
  TORCH_CHECK(params.dim() == 1 && params.numel() == spec.n_params(), op, ": params must have shape [",
              spec.n_params(), "] (n_entries ", spec.n_entries(), " x n_features ", spec.n_features, "), got ",
              params.sizes());
  detail::require_cpu(op, {{"xyz", &xyz}, {"params", &params}});
  return hash_grid_forward_cpu(xyz, params, spec);
}

void hash_grid_backward(const at::Tensor& dL_dfeatures, const at::Tensor& xyz, const HashGridSpec& spec,
                        at::Tensor& dL_dparams, const at::Tensor& touched) {
  constexpr const char* op = "hash_grid_backward";
  check_spec(op, spec);
  check_xyz(op, xyz);
  detail::check_dtype(op, "dL_dfeatures", dL_dfeatures, at::kFloat);
  detail::check_dim(op, "dL_dfeatures", dL_dfeatures, 2);
  detail::check_size(op, "dL_dfeatures", dL_dfeatures, 0, xyz.size(0), "N, the rows of xyz");
  detail::check_size(op, "dL_dfeatures", dL_dfeatures, 1, spec.n_output_dims(), "n_levels * n_features");
  detail::check_dtype(op, "dL_dparams", dL_dparams, at::kFloat);
  TORCH_CHECK(dL_dparams.dim() == 1 && dL_dparams.numel() == spec.n_params(), op,
              ": dL_dparams must have shape [", spec.n_params(), "], got ", dL_dparams.sizes());
  detail::check_contiguous(op, "dL_dparams", dL_dparams);
  if (touched.defined()) {
    detail::check_dtype(op, "touched", touched, at::kByte);
    TORCH_CHECK(touched.dim() == 1 && touched.numel() == spec.n_entries(), op, ": touched must have shape [",
                spec.n_entries(), "] (n_entries), got ", touched.sizes());
    detail::check_contiguous(op, "touched", touched);
  }
  detail::require_cpu(op, {{"dL_dfeatures", &dL_dfeatures}, {"xyz", &xyz}, {"dL_dparams", &dL_dparams},
                           {"touched", &touched}});
  hash_grid_backward_cpu(dL_dfeatures, xyz, spec, dL_dparams, touched);
}

namespace {

/// Autograd node: features = encode(xyz; params). Gradient w.r.t. params only (dense); xyz gets none.
class HashGridEncodeFunction : public torch::autograd::Function<HashGridEncodeFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& xyz, const at::Tensor& params,
                            const HashGridSpec& spec) {
    ctx->save_for_backward({xyz});
    ctx->saved_data["n_levels"] = spec.n_levels;
    ctx->saved_data["n_features"] = spec.n_features;
    ctx->saved_data["log2_table_size"] = spec.log2_table_size;
    ctx->saved_data["base_resolution"] = spec.base_resolution;
    ctx->saved_data["per_level_scale"] = spec.per_level_scale;
    return hash_grid_forward(xyz, params, spec);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor xyz = ctx->get_saved_variables()[0];
    HashGridSpec spec;
    spec.n_levels = int(ctx->saved_data["n_levels"].toInt());
    spec.n_features = int(ctx->saved_data["n_features"].toInt());
    spec.log2_table_size = int(ctx->saved_data["log2_table_size"].toInt());
    spec.base_resolution = int(ctx->saved_data["base_resolution"].toInt());
    spec.per_level_scale = ctx->saved_data["per_level_scale"].toDouble();
    at::Tensor dL_dparams = at::zeros({spec.n_params()}, xyz.options());
    if (grad_outputs[0].defined()) hash_grid_backward(grad_outputs[0], xyz, spec, dL_dparams);
    return {at::Tensor(), dL_dparams, at::Tensor()};
  }
};

}  // namespace

at::Tensor hash_grid_encode(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec) {
  return HashGridEncodeFunction::apply(xyz, params, spec);
}

// ---------------------------------------------------------------------------------------------------------
// Reference: the header's maths with LibTorch ops (float32 or float64), differentiable w.r.t. params.
// ---------------------------------------------------------------------------------------------------------

at::Tensor hash_grid_reference(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec) {
  constexpr const char* op = "hash_grid_reference";
  check_spec(op, spec);
  detail::check_defined(op, "xyz", xyz);
  detail::check_dim(op, "xyz", xyz, 2);
  detail::check_size(op, "xyz", xyz, 1, 3, "x, y, z");
  TORCH_CHECK(xyz.is_floating_point() && params.scalar_type() == xyz.scalar_type(), op,
              ": xyz and params must share a floating dtype, got ", xyz.scalar_type(), " and ",
              params.scalar_type());
  TORCH_CHECK(params.numel() == spec.n_params(), op, ": params must have ", spec.n_params(), " values, got ",
              params.numel());
  const std::vector<LevelGeometry> levels = level_geometry(spec);
  const int64_t N = xyz.size(0);
  const at::Tensor x = xyz.clamp(0, 1);
  // Corner entries and weights of every (level, corner, point), then one gather: a single index_select
  // keeps the autograd backward to one dense scatter into the table.
  std::vector<at::Tensor> entries, weights;
  for (int l = 0; l < spec.n_levels; ++l) {
    const LevelGeometry& g = levels[l];
    const double n = g.scale;
    const at::Tensor pos = x * n;
    const at::Tensor cell_f = at::floor(pos).clamp_max(n - 1);
    const at::Tensor frac = pos - cell_f;
    const at::Tensor cell = cell_f.to(at::kLong);
    const at::Tensor fx = frac.select(1, 0), fy = frac.select(1, 1), fz = frac.select(1, 2);
    for (int c = 0; c < 8; ++c) {
      const int ox = c & 1, oy = (c >> 1) & 1, oz = c >> 2;
      const at::Tensor cx = cell.select(1, 0) + ox, cy = cell.select(1, 1) + oy, cz = cell.select(1, 2) + oz;
      at::Tensor index;
      if (g.dense) {
        index = cx + cy * int64_t(g.stride_y) + cz * int64_t(g.stride_z);
      } else {
        index = at::bitwise_and(at::bitwise_xor(at::bitwise_xor(cx, cy * int64_t(kPrimeY)), cz * int64_t(kPrimeZ)),
                                int64_t(g.mask));
      }
      entries.push_back(index + g.offset);
      weights.push_back(((ox ? fx : 1 - fx) * (oy ? fy : 1 - fy)) * (oz ? fz : 1 - fz));
    }
  }
  const int64_t L = spec.n_levels, F = spec.n_features;
  const at::Tensor table = params.reshape({spec.n_entries(), F});
  const at::Tensor corner_values = table.index_select(0, at::cat(entries)).view({L, 8, N, F});
  const at::Tensor w = at::stack(weights).view({L, 8, N, 1});
  return (w * corner_values).sum(1).permute({1, 0, 2}).reshape({N, L * F});
}

}  // namespace semfield::kernels
