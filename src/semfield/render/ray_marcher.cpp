// Ray marcher: steps rays through occupied cells and jumps over empty space with the grid's mip levels.
#include "semfield/render/ray_marcher.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/render/contraction.h"

namespace semfield {

namespace {

constexpr int64_t kChunkRays = 256;
constexpr int kMaxLevels = 16;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kInfD = std::numeric_limits<double>::infinity();

void check_config(const MarchConfig& c) {
  if (!(c.near >= 0.0f && std::isfinite(c.near)))
    fail_usage("ray marching: near must be finite and >= 0, got {}", c.near);
  if (!(c.far > c.near)) fail_usage("ray marching: far ({}) must be greater than near ({})", c.far, c.near);
  if (!(c.min_step > 0.0f && std::isfinite(c.min_step)))
    fail_usage("ray marching: min_step must be finite and > 0, got {}", c.min_step);
  if (!(c.max_step >= c.min_step))
    fail_usage("ray marching: max_step ({}) must be >= min_step ({})", c.max_step, c.min_step);
  if (!(c.cone_angle >= 0.0f && std::isfinite(c.cone_angle)))
    fail_usage("ray marching: cone_angle must be finite and >= 0, got {}", c.cone_angle);
  if (c.max_samples_per_ray < 0)
    fail_usage("ray marching: max_samples_per_ray must be >= 0, got {}", c.max_samples_per_ray);
}

/// Everything the per-ray loop reads, unpacked once per call.
struct MarchContext {
  int res;
  int n_levels;
  const uint64_t* level[kMaxLevels];  ///< bit-packed occupancy per level (see OccupancyLevels)
  int level_res[kMaxLevels];
  float grid_min[3];
  float to_index[3];  ///< grid space -> cell index units: res / (grid_max - grid_min)
  float index_to_grid[3];
  /// Slab that rays are clipped to before marching: the occupied cells' bounding box, in cell-index units
  /// (bounded grids), or in world units when it lies inside the contracted grid's identity region.
  bool any_occupied;
  bool clip_world;
  float clip_lo[3], clip_hi[3];
  MarchConfig config;

  float step_at(float t) const {
    return std::min(std::max(t * config.cone_angle, config.min_step), config.max_step);
  }

  bool occupied(int l, int64_t idx) const { return (level[l][idx >> 6] >> (idx & 63)) & 1u; }

  /// Cell at cell-index point gi; the caller keeps gi inside the grid up to rounding.
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
      if (occupied(l, idx)) break;
      level_out = l;
    }
    return level_out;
  }
};

/// Clips [t_start, t_end] to the slab [lo, hi] of the line p0 + t v (per axis); v == 0 keeps all or nothing.
inline void clip_to_slab(const float* p0, const float* v, const float* lo, const float* hi, float* t_start,
                         float* t_end) {
  for (int a = 0; a < 3; ++a) {
    float t_lo, t_hi;
    if (v[a] == 0.0f) {
      const bool inside = p0[a] >= lo[a] && p0[a] <= hi[a];
      t_lo = inside ? -kInf : kInf;
      t_hi = kInf;
    } else {
      const float inv = 1.0f / v[a];
      t_lo = (lo[a] - p0[a]) * inv;
      t_hi = (hi[a] - p0[a]) * inv;
    }
    *t_start = std::max(*t_start, std::min(t_lo, t_hi));
    *t_end = std::min(*t_end, std::max(t_lo, t_hi));
  }
}

/// Per-chunk output: (t, dt) pairs of every sample of the chunk's rays, in ray order.
struct ChunkSamples {
  std::vector<float> t_dt;
  size_t size = 0;
  void push(float t, float dt) {
    if (2 * size + 2 > t_dt.size()) t_dt.resize(std::max<size_t>(4096, 2 * t_dt.size()));
    t_dt[2 * size] = t;
    t_dt[2 * size + 1] = dt;
    ++size;
  }
};

/// Real roots of a tau^2 + b tau + c = 0 in increasing order (inf where missing; a single root for a
/// linear or degenerate equation).
void quadratic_roots(double a, double b, double c, double* roots) {
  roots[0] = roots[1] = kInfD;
  if (std::fabs(a) <= 1e-12 * (std::fabs(b) + std::fabs(c))) {
    if (b != 0.0) roots[0] = -c / b;
    return;
  }
  const double disc = b * b - 4.0 * a * c;
  if (disc < 0.0) return;
  // The cancellation-free pair.
  const double q = -0.5 * (b + std::copysign(std::sqrt(disc), b));
  roots[0] = q / a;
  roots[1] = q != 0.0 ? c / q : roots[0];
  if (roots[1] < roots[0]) std::swap(roots[0], roots[1]);
}

/// World t at which the ray o + t d, at t_begin inside the contracted-space box [ylo, yhi] (bounds on the
/// grid's outer boundary |y| = 2 are flagged open: the contracted ray never reaches them), leaves the box;
/// inf if it never does. Exact: the contraction is piecewise analytic in t. Inside the unit cube it is the
/// identity (faces are planes); outside, with dominant axis a of sign s and n = s x_a (linear in t),
/// y_a = s (2 - 1/n) crosses a face where n is a constant (linear), and y_j = (2n - 1) x_j / n^2 crosses
/// y_j = c where (2n - 1) x_j - c n^2 = 0 (quadratic). The ray is followed piece by piece (a change of
/// dominant axis or crossing |x| = 1 starts a new piece; a line has only a few).
double contracted_box_exit(const float* of, const float* df, const double* ylo, const double* yhi,
                           const bool* lo_open, const bool* hi_open, double t_begin) {
  const double o[3] = {of[0], of[1], of[2]}, d[3] = {df[0], df[1], df[2]};
  double t = t_begin;
  for (int piece = 0; piece < 12; ++piece) {
    const double tol = 1e-9 * (1.0 + std::fabs(t));
    // The piece is the one the ray is in just after t.
    const double probe = t + 16.0 * tol;
    double xp[3], x[3];
    for (int a = 0; a < 3; ++a) {
      xp[a] = o[a] + probe * d[a];
      x[a] = o[a] + t * d[a];
    }
    const int a = std::fabs(xp[0]) >= std::fabs(xp[1]) ? (std::fabs(xp[0]) >= std::fabs(xp[2]) ? 0 : 2)
                                                       : (std::fabs(xp[1]) >= std::fabs(xp[2]) ? 1 : 2);
    const double s = xp[a] >= 0.0 ? 1.0 : -1.0;
    double t_face = kInfD, t_switch = kInfD;
    auto face = [&](double tau) { t_face = std::min(t_face, t + tau); };
    auto change = [&](double tau) {
      if (tau > tol) t_switch = std::min(t_switch, t + tau);
    };
    if (s * xp[a] < 1.0) {
      // Identity piece: planar faces; leaving the unit cube changes the piece.
      for (int j = 0; j < 3; ++j) {
        if (d[j] > 0.0) {
          if (!hi_open[j]) face(std::max((yhi[j] - x[j]) / d[j], 0.0));
          change((1.0 - x[j]) / d[j]);
        } else if (d[j] < 0.0) {
          if (!lo_open[j]) face(std::max((ylo[j] - x[j]) / d[j], 0.0));
          change((-1.0 - x[j]) / d[j]);
        }
      }
    } else {
      const double n0 = s * x[a], nd = s * d[a];
      // Entering the unit cube, or another axis becoming dominant (s x_a = +-x_j).
      if (nd < 0.0) change((1.0 - n0) / nd);
      for (int j = 0; j < 3; ++j) {
        if (j == a) continue;
        if (nd - d[j] != 0.0) change(-(n0 - x[j]) / (nd - d[j]));
        if (nd + d[j] != 0.0) change(-(n0 + x[j]) / (nd + d[j]));
      }
      // The face across the dominant axis ahead (y_a moves towards +s as n grows): n = 1 / (2 - s c),
      // reachable only for s c in [1, 2) (below 1 the ray enters the unit cube first).
      if (nd != 0.0) {
        const bool towards_hi = s * nd > 0.0;
        const double c = towards_hi ? yhi[a] : ylo[a];
        if (!(towards_hi ? hi_open[a] : lo_open[a]) && s * c >= 1.0 && s * c < 2.0)
          face(std::max((1.0 / (2.0 - s * c) - n0) / nd, 0.0));
      }
      // Faces along the other axes: g(tau) = (2n - 1) x_j - c n^2 = n^2 (y_j - c) with n = n0 + tau nd,
      // x_j = x_j0 + tau d_j. A start at or beyond a face (rounding: the cell came from a float lookup)
      // leaves at once if it moves outwards.
      for (int j = 0; j < 3; ++j) {
        if (j == a) continue;
        for (int side = 0; side < 2; ++side) {
          if (side == 0 ? lo_open[j] : hi_open[j]) continue;
          const double c = side == 0 ? ylo[j] : yhi[j];
          const double qa = 2.0 * nd * d[j] - c * nd * nd;
          const double qb = 2.0 * nd * x[j] + (2.0 * n0 - 1.0) * d[j] - 2.0 * c * n0 * nd;
          const double qc = (2.0 * n0 - 1.0) * x[j] - c * n0 * n0;
          const double outwards = side == 0 ? -1.0 : 1.0;
          double roots[2];
          quadratic_roots(qa, qb, qc, roots);
          if (outwards * qc < 0.0) {
            // Inside: the first crossing ahead.
            face(roots[0] >= 0.0 ? roots[0] : roots[1] >= 0.0 ? roots[1] : kInfD);
          } else if (outwards * qb > 0.0) {
            face(0.0);
          } else if (roots[1] != kInfD && roots[1] > 0.0) {
            // On or just beyond the face and moving back in: the later root is where it leaves.
            face(roots[1]);
          }
        }
      }
    }
    if (t_face <= t_switch) return t_face;
    if (t_switch == kInfD) return kInfD;
    t = t_switch;
  }
  return t;
}

/// The start of a ray's march: its range clipped to the grid and the occupied cells' box, and the first
/// interval's start.
RayMarchState start_ray(const MarchContext& ctx, bool contracted, const float* o, const float* d, float u) {
  const MarchConfig& cfg = ctx.config;
  RayMarchState state;
  state.u = u;
  for (int a = 0; a < 3; ++a)
    if (!(std::isfinite(o[a]) && std::isfinite(d[a]))) return state;
  float t_start = cfg.near, t_end = cfg.far;
  // Nothing to find outside the occupied cells' bounding box.
  if (!contracted) {
    float go[3], gd[3];
    for (int a = 0; a < 3; ++a) {
      go[a] = (o[a] - ctx.grid_min[a]) * ctx.to_index[a];
      gd[a] = (d[a] == 0.0f ? 0.0f : d[a]) * ctx.to_index[a];
    }
    clip_to_slab(go, gd, ctx.clip_lo, ctx.clip_hi, &t_start, &t_end);
  } else if (ctx.clip_world) {
    clip_to_slab(o, d, ctx.clip_lo, ctx.clip_hi, &t_start, &t_end);
  }
  if (!(t_start < t_end) || cfg.max_samples_per_ray == 0 || !ctx.any_occupied) return state;
  state.t0 = t_start + (u - 0.5f) * ctx.step_at(t_start);
  state.t_end = t_end;
  state.cell_exit = -kInf;
  state.finished = !(state.t0 < t_end);
  return state;
}

/// Marches one ray from `state` until it has emitted `max_new` samples (emit(t, dt) each) or finishes.
/// Returns how many it emitted. The state after a stop is exactly the loop's state there, so resuming
/// continues the same sequence of intervals and lookups.
template <bool kContracted, typename Emit>
int advance_ray(const MarchContext& ctx, const float* o, const float* d, RayMarchState& state, int max_new,
                Emit&& emit) {
  if (state.finished) return 0;
  const MarchConfig& cfg = ctx.config;
  // The ray in cell-index units (bounded grids): g(t) = go + t * gd. Signed zeros become +0 so that the
  // reciprocal of a zero component is +inf and face tests below never see 0 * inf.
  float go[3], gd[3], inv_gd[3];
  for (int a = 0; a < 3; ++a) {
    const float da = d[a] == 0.0f ? 0.0f : d[a];
    go[a] = (o[a] - ctx.grid_min[a]) * ctx.to_index[a];
    gd[a] = da * ctx.to_index[a];
    inv_gd[a] = 1.0f / gd[a];
  }
  const float t_end = state.t_end, u = state.u;
  float t0 = state.t0, cell_exit = state.cell_exit;
  const int budget = std::min(max_new, cfg.max_samples_per_ray - state.n_samples);
  int count = 0;
  bool finished = false;
  while (count < budget) {
    if (!(t0 < t_end)) {
      finished = true;
      break;
    }
    float dt = ctx.step_at(t0);
    if (t0 + dt > t_end) dt = t_end - t0;
    const float tm = t0 + 0.5f * dt;
    // In a bounded grid the ray is straight in index space, so every midpoint before the occupied cell's
    // exit is in that cell too: emit it without a lookup.
    if (!(tm < cell_exit)) {
      float gi[3];
      if (kContracted) {
        float y[3] = {o[0] + tm * d[0], o[1] + tm * d[1], o[2] + tm * d[2]};
        contract_point(y, y);
        for (int a = 0; a < 3; ++a) gi[a] = (y[a] - ctx.grid_min[a]) * ctx.to_index[a];
      } else {
        for (int a = 0; a < 3; ++a) gi[a] = go[a] + tm * gd[a];
      }
      int c[3];
      if (ctx.occupied(0, ctx.fine_cell(gi, c))) {
        if (!kContracted) {
          cell_exit = kInf;
          for (int a = 0; a < 3; ++a)
            cell_exit = std::min(cell_exit,
                                 (static_cast<float>(gd[a] >= 0.0f ? c[a] + 1 : c[a]) - go[a]) * inv_gd[a]);
        }
      } else {
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
            t_exit =
                std::min(t_exit, (static_cast<float>(gd[a] >= 0.0f ? hi[a] : lo[a]) - go[a]) * inv_gd[a]);
        } else {
          double ylo[3], yhi[3];
          bool lo_open[3], hi_open[3];
          for (int a = 0; a < 3; ++a) {
            ylo[a] = ctx.grid_min[a] + static_cast<double>(lo[a]) * ctx.index_to_grid[a];
            yhi[a] = ctx.grid_min[a] + static_cast<double>(hi[a]) * ctx.index_to_grid[a];
            lo_open[a] = lo[a] <= 0;
            hi_open[a] = hi[a] >= ctx.res;
          }
          t_exit = static_cast<float>(contracted_box_exit(o, d, ylo, yhi, lo_open, hi_open, tm));
        }
        if (!(t_exit < t_end)) {
          finished = true;
          break;
        }
        const float dt_entry = ctx.step_at(t_exit);
        float t_next = t_exit + (u - 0.5f) * dt_entry;
        // Every iteration must move t0 forward (the midpoint moves with it): a restart can land behind t0
        // when the current interval was shortened at t_end, or through rounding.
        if (!(t_next > t0)) t_next = std::max(tm, std::nextafter(t0, kInf));
        t0 = t_next;
        continue;
      }
    }
    emit(tm, dt);
    ++count;
    t0 += dt;
  }
  state.t0 = t0;
  state.cell_exit = cell_exit;
  state.n_samples += count;
  state.finished = finished || state.n_samples >= cfg.max_samples_per_ray || !(t0 < t_end);
  return count;
}

/// Unpacks the grid's levels (or `local`, built here when the grid's are stale) and the config.
MarchContext make_context(const OccupancyGrid& grid, const MarchConfig& config, OccupancyLevels& local) {
  const int res = grid.resolution();
  const OccupancyLevels* levels = grid.levels();
  if (!levels) {
    const at::Tensor& bits = grid.bitfield();
    SEMFIELD_ASSERT(bits.scalar_type() == at::kByte && bits.is_contiguous() &&
                        bits.numel() == static_cast<int64_t>(res) * res * res,
                    "occupancy bitfield must be a contiguous uint8 tensor of res^3 cells");
    local = OccupancyLevels::build(bits.data_ptr<uint8_t>(), res);
    levels = &local;
  }
  MarchContext ctx{};
  ctx.res = res;
  ctx.n_levels = std::min(levels->n_levels(), kMaxLevels);
  for (int l = 0; l < ctx.n_levels; ++l) {
    ctx.level[l] = levels->bits[static_cast<size_t>(l)].data();
    ctx.level_res[l] = levels->resolution[static_cast<size_t>(l)];
  }
  bool identity_box = true;
  for (int a = 0; a < 3; ++a) {
    const float extent = grid.grid_max()[a] - grid.grid_min()[a];
    ctx.grid_min[a] = grid.grid_min()[a];
    ctx.to_index[a] = static_cast<float>(res) / extent;
    ctx.index_to_grid[a] = extent / static_cast<float>(res);
    ctx.clip_lo[a] = static_cast<float>(levels->occupied_min[a]);
    ctx.clip_hi[a] = static_cast<float>(levels->occupied_max[a]);
    if (grid.contracted()) {
      ctx.clip_lo[a] = ctx.grid_min[a] + ctx.clip_lo[a] * ctx.index_to_grid[a];
      ctx.clip_hi[a] = ctx.grid_min[a] + ctx.clip_hi[a] * ctx.index_to_grid[a];
      identity_box = identity_box && ctx.clip_lo[a] >= -1.0f && ctx.clip_hi[a] <= 1.0f;
    }
  }
  // Contracted space maps boxes to boxes only inside the unit cube, where it is the identity.
  ctx.clip_world = grid.contracted() && identity_box;
  ctx.any_occupied = levels->any_occupied();
  ctx.config = config;
  return ctx;
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

  OccupancyLevels local_levels;
  const MarchContext ctx = make_context(grid, config, local_levels);

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
  const uint64_t jitter_key = splitmix64_at(config.seed);
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
      const float u = config.jitter ? static_cast<float>(splitmix64_at(jitter_key + static_cast<uint64_t>(r)) >> 40) *
                                          (1.0f / 16777216.0f)
                                    : 0.5f;
      RayMarchState state = start_ray(ctx, contracted, o + 3 * r, d + 3 * r, u);
      auto emit = [&out](float t, float dt) { out.push(t, dt); };
      // Counts go to offsets[r + 1]; the prefix sum below turns them into offsets.
      offsets[r + 1] = contracted
                           ? advance_ray<true>(ctx, o + 3 * r, d + 3 * r, state, config.max_samples_per_ray, emit)
                           : advance_ray<false>(ctx, o + 3 * r, d + 3 * r, state, config.max_samples_per_ray, emit);
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
    const float* t_dt = in.t_dt.data();
    for (int64_t r = begin; r < end; ++r) {
      const float* ro = o + 3 * r;
      const float* rd = d + 3 * r;
      for (int64_t s = offsets[r]; s < offsets[r + 1]; ++s, t_dt += 2) {
        const float t = t_dt[0];
        ts[s] = t;
        dts[s] = t_dt[1];
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

struct RayMarcher::Impl {
  OccupancyLevels local_levels;
  MarchContext ctx;
  bool contracted;
};

RayMarcher::RayMarcher(const OccupancyGrid& grid, const MarchConfig& config) : m_impl(std::make_unique<Impl>()) {
  check_config(config);
  m_impl->ctx = make_context(grid, config, m_impl->local_levels);
  m_impl->contracted = grid.contracted();
}

RayMarcher::~RayMarcher() = default;

RayMarchState RayMarcher::start(const float* origin, const float* direction, float u) const {
  return start_ray(m_impl->ctx, m_impl->contracted, origin, direction, u);
}

int RayMarcher::advance(const float* origin, const float* direction, RayMarchState& state, int max_samples,
                        float* ts, float* dts) const {
  int n = 0;
  auto emit = [&](float t, float dt) {
    ts[n] = t;
    dts[n] = dt;
    ++n;
  };
  return m_impl->contracted ? advance_ray<true>(m_impl->ctx, origin, direction, state, max_samples, emit)
                            : advance_ray<false>(m_impl->ctx, origin, direction, state, max_samples, emit);
}

}  // namespace semfield
