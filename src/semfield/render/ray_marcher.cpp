// Ray marcher: steps rays through occupied cells and jumps over empty space with the grid's mip levels.
#include "semfield/render/ray_marcher.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "semfield/core/error.h"
#include "semfield/render/contraction.h"

namespace semfield {

namespace {

constexpr int64_t kChunkRays = 256;
constexpr int kMaxLevels = 16;
constexpr float kInf = std::numeric_limits<float>::infinity();

inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void check_config(const MarchConfig& c) {
  if (!(c.near >= 0.0f && std::isfinite(c.near))) fail_usage("ray marching: near must be finite and >= 0, got {}", c.near);
  if (!(c.far > c.near)) fail_usage("ray marching: far ({}) must be greater than near ({})", c.far, c.near);
  if (!(c.min_step > 0.0f && std::isfinite(c.min_step)))
    fail_usage("ray marching: min_step must be finite and > 0, got {}", c.min_step);
  if (!(c.max_step >= c.min_step)) fail_usage("ray marching: max_step ({}) must be >= min_step ({})", c.max_step, c.min_step);
  if (!(c.cone_angle >= 0.0f && std::isfinite(c.cone_angle)))
    fail_usage("ray marching: cone_angle must be finite and >= 0, got {}", c.cone_angle);
  if (c.max_samples_per_ray < 0)
    fail_usage("ray marching: max_samples_per_ray must be >= 0, got {}", c.max_samples_per_ray);
}

/// Everything the per-ray loop reads, unpacked once per call.
struct MarchContext {
  int res;
  int n_levels;
  const uint8_t* level[kMaxLevels];
  int level_res[kMaxLevels];
  float grid_min[3];
  float to_index[3];  ///< grid space -> cell index units: res / (grid_max - grid_min)
  float index_to_grid[3];
  MarchConfig config;

  float step_at(float t) const {
    return std::min(std::max(t * config.cone_angle, config.min_step), config.max_step);
  }

  /// Cell at grid-space point g; the caller keeps g inside the grid up to rounding.
  int64_t fine_cell(const float* gi, int* c) const {
    for (int a = 0; a < 3; ++a) c[a] = std::min(std::max(static_cast<int>(gi[a]), 0), res - 1);
    return (static_cast<int64_t>(c[0]) * res + c[1]) * res + c[2];
  }

  /// The coarsest level whose cell containing fine cell c is empty (c itself being empty).
  int coarsest_empty_level(const int* c) const {
    int level_out = 0;
    for (int l = 1; l < n_levels; ++l) {
      const int64_t r = level_res[l];
      const int64_t idx = ((static_cast<int64_t>(c[0] >> l)) * r + (c[1] >> l)) * r + (c[2] >> l);
      if (level[l][idx]) break;
      level_out = l;
    }
    return level_out;
  }
};

/// Per-chunk output: (t, dt) of every sample of the chunk's rays, in ray order.
struct ChunkSamples {
  std::vector<float> ts, dts;
};

/// Marches one ray, appending its samples to `out`; returns how many it appended.
template <bool kContracted>
int64_t march_ray(const MarchContext& ctx, const float* o, const float* d, float u, ChunkSamples& out) {
  const MarchConfig& cfg = ctx.config;
  const float res_f = static_cast<float>(ctx.res);
  // The ray in cell-index units (bounded grids): g(t) = go + t * gd. Signed zeros become +0 so that the
  // reciprocal of a zero component is +inf and face tests below never see 0 * inf.
  float go[3], gd[3], inv_gd[3], inv_d[3];
  float t_start = cfg.near, t_end = cfg.far;
  for (int a = 0; a < 3; ++a)
    if (!(std::isfinite(o[a]) && std::isfinite(d[a]))) return 0;
  for (int a = 0; a < 3; ++a) {
    const float da = d[a] == 0.0f ? 0.0f : d[a];
    inv_d[a] = 1.0f / da;
    go[a] = (o[a] - ctx.grid_min[a]) * ctx.to_index[a];
    gd[a] = da * ctx.to_index[a];
    inv_gd[a] = 1.0f / gd[a];
    if (!kContracted) {
      // Slab test against [0, res] in index units.
      float t_lo = (0.0f - go[a]) * inv_gd[a];
      float t_hi = (res_f - go[a]) * inv_gd[a];
      if (gd[a] == 0.0f) {
        // Parallel to the slab: all of the line or none of it.
        const bool inside = go[a] >= 0.0f && go[a] <= res_f;
        t_lo = inside ? -kInf : kInf;
        t_hi = kInf;
      }
      t_start = std::max(t_start, std::min(t_lo, t_hi));
      t_end = std::min(t_end, std::max(t_lo, t_hi));
    }
  }
  if (!(t_start < t_end) || cfg.max_samples_per_ray == 0) return 0;

  int64_t count = 0;
  float t0 = t_start + (u - 0.5f) * ctx.step_at(t_start);
  while (t0 < t_end) {
    float dt = ctx.step_at(t0);
    if (t0 + dt > t_end) dt = t_end - t0;
    const float tm = t0 + 0.5f * dt;

    float x[3] = {o[0] + tm * d[0], o[1] + tm * d[1], o[2] + tm * d[2]};
    float gi[3];
    if (kContracted) {
      float y[3];
      contract_point(x, y);
      for (int a = 0; a < 3; ++a) gi[a] = (y[a] - ctx.grid_min[a]) * ctx.to_index[a];
    } else {
      for (int a = 0; a < 3; ++a) gi[a] = go[a] + tm * gd[a];
    }
    int c[3];
    if (ctx.level[0][ctx.fine_cell(gi, c)]) {
      out.ts.push_back(tm);
      out.dts.push_back(dt);
      if (++count >= cfg.max_samples_per_ray) break;
      t0 += dt;
      continue;
    }

    // Empty: leave the largest empty cell around the midpoint. Its box in index units is [lo, hi).
    const int l = ctx.coarsest_empty_level(c);
    int lo[3], hi[3];
    for (int a = 0; a < 3; ++a) {
      lo[a] = (c[a] >> l) << l;
      hi[a] = lo[a] + (1 << l);
    }
    float t_exit = kInf;
    if (!kContracted) {
      // Straight line in index space: the exit is the nearest far face.
      for (int a = 0; a < 3; ++a)
        t_exit = std::min(t_exit, (static_cast<float>(gd[a] >= 0.0f ? hi[a] : lo[a]) - go[a]) * inv_gd[a]);
    } else {
      const float n = std::max(std::fabs(x[0]), std::max(std::fabs(x[1]), std::fabs(x[2])));
      if (n < 1.0f) {
        // Contraction is the identity inside the unit cube: exact exit from (cell box ∩ [-1,1]^3).
        for (int a = 0; a < 3; ++a) {
          const float face = d[a] >= 0.0f
                                 ? std::min(ctx.grid_min[a] + static_cast<float>(hi[a]) * ctx.index_to_grid[a], 1.0f)
                                 : std::max(ctx.grid_min[a] + static_cast<float>(lo[a]) * ctx.index_to_grid[a], -1.0f);
          t_exit = std::min(t_exit, (face - o[a]) * inv_d[a]);
        }
      } else {
        // Outside, the contracted ray is curved. The contraction's Jacobian has L-inf norm at most
        // min(4/3, 4/n) (rows: 1/n^2 radially, (2n-1)/n^2 + 2(n-1)/n^2 across), so a world step s with
        // s |d|_inf <= max(3 delta / 4, delta n / (4 + delta)) moves the contracted point by at most delta,
        // the L-inf distance to the cell's faces (faces on the grid's outer boundary |y| = 2 are never
        // reached and do not count).
        float delta = kInf;
        for (int a = 0; a < 3; ++a) {
          const float y_a = gi[a];  // index units; converted to grid units below
          if (lo[a] > 0) delta = std::min(delta, (y_a - static_cast<float>(lo[a])) * ctx.index_to_grid[a]);
          if (hi[a] < ctx.res) delta = std::min(delta, (static_cast<float>(hi[a]) - y_a) * ctx.index_to_grid[a]);
        }
        delta = std::max(delta, 0.0f);
        const float d_inf = std::max(std::fabs(d[0]), std::max(std::fabs(d[1]), std::fabs(d[2])));
        const float s = std::max(0.75f * delta, delta * n / (4.0f + delta)) / d_inf;
        // A skip below half a step would crawl towards the face; half a step is the sampling resolution.
        t_exit = tm + std::max(s, 0.5f * dt);
      }
    }
    if (!(t_exit < t_end)) break;
    const float dt_entry = ctx.step_at(t_exit);
    float t_next = t_exit + (u - 0.5f) * dt_entry;
    // Every iteration must move t0 forward (the midpoint moves with it): a restart can land behind t0
    // when the current interval was shortened at t_end, or through rounding.
    if (!(t_next > t0)) t_next = std::max(tm, std::nextafter(t0, kInf));
    t0 = t_next;
  }
  return count;
}

}  // namespace

PackedSamples march_rays(const at::Tensor& origins, const at::Tensor& directions, const OccupancyGrid& grid,
                         const MarchConfig& config) {
  check_config(config);
  SEMFIELD_ASSERT(origins.dim() == 2 && origins.size(1) == 3 && origins.device().is_cpu(),
                  "march_rays: origins must be [R,3] on the CPU");
  SEMFIELD_ASSERT(directions.sizes() == origins.sizes() && directions.device().is_cpu(),
                  "march_rays: directions must be [R,3] like origins");
  const at::Tensor rays_o = origins.to(at::kFloat).contiguous();
  const at::Tensor rays_d = directions.to(at::kFloat).contiguous();
  const int64_t R = rays_o.size(0);

  const int res = grid.resolution();
  OccupancyLevels local_levels;
  const OccupancyLevels* levels = grid.levels();
  if (!levels) {
    const at::Tensor& bits = grid.bitfield();
    SEMFIELD_ASSERT(bits.scalar_type() == at::kByte && bits.is_contiguous() &&
                        bits.numel() == static_cast<int64_t>(res) * res * res,
                    "occupancy bitfield must be a contiguous uint8 tensor of res^3 cells");
    local_levels = OccupancyLevels::build(bits.data_ptr<uint8_t>(), res);
    levels = &local_levels;
  }
  MarchContext ctx{};
  ctx.res = res;
  ctx.n_levels = std::min(levels->n_levels(), kMaxLevels);
  for (int l = 0; l < ctx.n_levels; ++l) {
    ctx.level[l] = levels->cells[static_cast<size_t>(l)].data();
    ctx.level_res[l] = levels->resolution[static_cast<size_t>(l)];
  }
  for (int a = 0; a < 3; ++a) {
    const float extent = grid.grid_max()[a] - grid.grid_min()[a];
    ctx.grid_min[a] = grid.grid_min()[a];
    ctx.to_index[a] = static_cast<float>(res) / extent;
    ctx.index_to_grid[a] = extent / static_cast<float>(res);
  }
  ctx.config = config;

  // Pass 1: march chunks of rays into per-chunk buffers. Chunks are handed out dynamically because the
  // work per ray varies a lot (rays through empty space cost a few skips, rays through matter hundreds
  // of samples).
  const float* o = rays_o.data_ptr<float>();
  const float* d = rays_d.data_ptr<float>();
  const int64_t n_chunks = (R + kChunkRays - 1) / kChunkRays;
  std::vector<ChunkSamples> chunks(static_cast<size_t>(n_chunks));
  at::Tensor ray_offsets = at::empty({R + 1}, at::kLong);
  int64_t* offsets = ray_offsets.data_ptr<int64_t>();
  offsets[0] = 0;
  const uint64_t jitter_key = mix64(config.seed);
  const bool contracted = grid.contracted();
  auto run_dynamic = [n_chunks](const std::function<void(int64_t)>& body) {
    std::atomic<int64_t> next{0};
    const int64_t n_workers = std::min<int64_t>(at::get_num_threads(), n_chunks);
    at::parallel_for(0, n_workers, 1, [&](int64_t, int64_t) {
      for (int64_t chunk = next++; chunk < n_chunks; chunk = next++) body(chunk);
    });
  };
  run_dynamic([&](int64_t chunk) {
    ChunkSamples& out = chunks[static_cast<size_t>(chunk)];
    const int64_t end = std::min(R, (chunk + 1) * kChunkRays);
    for (int64_t r = chunk * kChunkRays; r < end; ++r) {
      const float u = config.jitter
                          ? static_cast<float>(mix64(jitter_key + static_cast<uint64_t>(r)) >> 40) * (1.0f / 16777216.0f)
                          : 0.5f;
      // Counts go to offsets[r + 1]; the prefix sum below turns them into offsets.
      offsets[r + 1] = contracted ? march_ray<true>(ctx, o + 3 * r, d + 3 * r, u, out)
                                  : march_ray<false>(ctx, o + 3 * r, d + 3 * r, u, out);
    }
  });
  for (int64_t r = 0; r < R; ++r) offsets[r + 1] += offsets[r];
  const int64_t S = offsets[R];

  // Pass 2: scatter the buffers into the packed tensors and expand positions and directions.
  PackedSamples samples;
  samples.positions = at::empty({S, 3}, at::kFloat);
  samples.directions = at::empty({S, 3}, at::kFloat);
  samples.ts = at::empty({S}, at::kFloat);
  samples.dts = at::empty({S}, at::kFloat);
  samples.ray_offsets = ray_offsets;
  float* pos = samples.positions.data_ptr<float>();
  float* dir = samples.directions.data_ptr<float>();
  float* ts = samples.ts.data_ptr<float>();
  float* dts = samples.dts.data_ptr<float>();
  run_dynamic([&](int64_t chunk) {
    ChunkSamples& in = chunks[static_cast<size_t>(chunk)];
    const int64_t begin = chunk * kChunkRays;
    const int64_t end = std::min(R, begin + kChunkRays);
    const int64_t base = offsets[begin];
    std::copy(in.ts.begin(), in.ts.end(), ts + base);
    std::copy(in.dts.begin(), in.dts.end(), dts + base);
    for (int64_t r = begin; r < end; ++r) {
      const float* ro = o + 3 * r;
      const float* rd = d + 3 * r;
      for (int64_t s = offsets[r]; s < offsets[r + 1]; ++s) {
        const float t = ts[s];
        pos[3 * s] = ro[0] + t * rd[0];
        pos[3 * s + 1] = ro[1] + t * rd[1];
        pos[3 * s + 2] = ro[2] + t * rd[2];
        dir[3 * s] = rd[0];
        dir[3 * s + 1] = rd[1];
        dir[3 * s + 2] = rd[2];
      }
    }
    in = ChunkSamples{};  // release this chunk's buffers early
  });
  return samples;
}

}  // namespace semfield
