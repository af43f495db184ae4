// Incremental inference rendering: rounds of marching, field evaluation, compositing and compaction of the
// alive rays.
#include "semfield/render/incremental_renderer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/render/parallel_slices.h"
#include "semfield/core/progress.h"

namespace semfield {

namespace {

using Clock = std::chrono::steady_clock;


/// Alive rays per parallel chunk: enough work per chunk to amortise the hand-out.
constexpr int64_t kRayGrain = 2048;

/// Rows per field call for a round of n samples: about n / kFieldSlicesPerRound (so that the threads share
/// a round), at least kMinFieldSlice (so that a call's fixed costs stay small), at most field_batch. It
/// depends on n only, not on the thread count (see parallel_slices).
constexpr int64_t kFieldSlicesPerRound = 8;
constexpr int64_t kMinFieldSlice = 8192;
int64_t field_slice(int64_t n, int64_t field_batch) {
  constexpr int64_t kAlign = 1024;
  const int64_t even = (n + kFieldSlicesPerRound - 1) / kFieldSlicesPerRound;
  return std::min(field_batch, std::max(kMinFieldSlice, (even + kAlign - 1) / kAlign * kAlign));
}

/// fn(begin, end) over [0, n) in chunks of `grain`, on parallel_slices' persistent threads (a round
/// takes milliseconds: starting threads per loop, as parallel_for does, costs more than that on a busy
/// machine).
template <typename Fn>
void for_chunks(int64_t n, int64_t grain, Fn&& fn) {
  parallel_slices(n, grain, [&fn](int64_t begin, int64_t length) { fn(begin, begin + length); });
}

void check_config(const IncrementalConfig& c) {
  if (!(c.transmittance_min >= 0.0 && c.transmittance_min < 1.0))
    fail_usage("incremental rendering: transmittance_min must be in [0, 1), got {}", c.transmittance_min);
  if (c.round_samples < 1) fail_usage("incremental rendering: round_samples must be >= 1, got {}", c.round_samples);
  if (c.max_steps < 1) fail_usage("incremental rendering: max_steps must be >= 1, got {}", c.max_steps);
  if (c.field_batch < 1) fail_usage("incremental rendering: field_batch must be >= 1, got {}", c.field_batch);
  if (c.max_rays < 1) fail_usage("incremental rendering: max_rays must be >= 1, got {}", c.max_rays);
}

/// A float32 [M] (channels < 0) or [M,C] result of a field callback, checked and made contiguous.
at::Tensor checked_output(const at::Tensor& t, int64_t rows, int64_t channels, const char* what) {
  SEMFIELD_ASSERT(t.defined() && t.scalar_type() == at::kFloat && t.device().is_cpu(),
                  fmt::format("incremental rendering: the field's {} must be a float32 CPU tensor", what));
  const bool ok = channels < 0 ? (t.dim() == 1 && t.size(0) == rows)
                               : (t.dim() == 2 && t.size(0) == rows && t.size(1) == channels);
  SEMFIELD_ASSERT(ok, fmt::format("incremental rendering: the field's {} has shape [{}], expected [{}{}]", what,
                                  fmt::join(t.sizes(), ", "), rows, channels < 0 ? "" : fmt::format(", {}", channels)));
  return t.contiguous();
}

/// Composites one sample onto a ray: returns its weight T * alpha and multiplies the transmittance by
/// 1 - alpha (kernels::composite's formula: alpha = -expm1(-sigma dt), accurate for small sigma dt).
inline float composite_sample(float sigma, float dt, float& transmittance) {
  const float m = std::expm1(-sigma * dt);
  const float w = transmittance * -m;
  transmittance *= 1.0f + m;
  return w;
}

/// The rays of one chunk while they are rendered: marching states, transmittances, the alive set, and the
/// current round's samples (packed in alive order, front to back per ray).
class RoundState {
 public:
  RoundState(const RayMarcher& marcher, const float* origins, const float* directions, int64_t n_rays,
             const IncrementalConfig& config)
      : m_marcher(marcher), m_o(origins), m_d(directions), m_config(config) {
    m_states.resize(static_cast<size_t>(n_rays));
    m_transmittance.assign(static_cast<size_t>(n_rays), 1.0f);
    std::vector<uint8_t> started(static_cast<size_t>(n_rays));
    for_chunks(n_rays, 4 * kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        m_states[static_cast<size_t>(r)] = m_marcher.start(m_o + 3 * r, m_d + 3 * r);
        started[static_cast<size_t>(r)] = !m_states[static_cast<size_t>(r)].finished;
      }
    });
    m_alive.reserve(static_cast<size_t>(n_rays));
    for (int64_t r = 0; r < n_rays; ++r)
      if (started[static_cast<size_t>(r)]) m_alive.push_back(static_cast<int32_t>(r));
    m_capacity = std::max<int64_t>(config.round_samples, n_rays);
    m_positions = at::empty({m_capacity, 3}, at::kFloat);
    m_directions = at::empty({m_capacity, 3}, at::kFloat);
  }

  /// Most samples a round can have: alive * n_steps <= max(round_samples, rays).
  int64_t capacity() const { return m_capacity; }
  bool done() const { return m_alive.empty(); }
  int64_t n_alive() const { return static_cast<int64_t>(m_alive.size()); }
  /// Chunk-local ray index of alive ray i.
  int32_t ray(int64_t i) const { return m_alive[static_cast<size_t>(i)]; }
  /// The round's samples of alive ray i: [begin(i), end(i)).
  int64_t begin(int64_t i) const { return m_offsets[static_cast<size_t>(i)]; }
  int64_t end(int64_t i) const { return m_offsets[static_cast<size_t>(i) + 1]; }
  int64_t n_samples() const { return m_offsets.empty() ? 0 : m_offsets.back(); }
  const float* ts() const { return m_ts.data(); }
  const float* dts() const { return m_dts.data(); }
  /// [n_samples, 3] views of buffers the next round overwrites.
  at::Tensor positions() const { return m_positions.narrow(0, 0, n_samples()); }
  at::Tensor directions() const { return m_directions.narrow(0, 0, n_samples()); }
  float& transmittance(int32_t r) { return m_transmittance[static_cast<size_t>(r)]; }
  bool finished(int32_t r) const { return m_states[static_cast<size_t>(r)].finished; }

  /// Marches the next samples of every alive ray into the round's packed arrays; returns their number.
  int64_t march_round() {
    const int64_t n_alive = this->n_alive();
    const int64_t n_steps =
        std::clamp<int64_t>(m_config.round_samples / std::max<int64_t>(n_alive, 1), 1, m_config.max_steps);
    const size_t slots = static_cast<size_t>(n_alive * n_steps);
    if (m_slot_t.size() < slots) {
      m_slot_t.resize(slots);
      m_slot_dt.resize(slots);
    }
    m_offsets.resize(static_cast<size_t>(n_alive) + 1);
    m_offsets[0] = 0;
    // Each ray marches into its own n_steps slots; counts go to m_offsets[i + 1], and the prefix sum turns
    // them into offsets for packing.
    for_chunks(n_alive, kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int32_t r = ray(i);
        m_offsets[static_cast<size_t>(i) + 1] = m_marcher.advance(
            m_o + 3 * r, m_d + 3 * r, m_states[static_cast<size_t>(r)], static_cast<int>(n_steps),
            m_slot_t.data() + i * n_steps, m_slot_dt.data() + i * n_steps);
      }
    });
    for (size_t i = 0; i < static_cast<size_t>(n_alive); ++i) m_offsets[i + 1] += m_offsets[i];
    const int64_t S = n_samples();
    if (m_ts.size() < static_cast<size_t>(S)) {
      m_ts.resize(static_cast<size_t>(S));
      m_dts.resize(static_cast<size_t>(S));
    }
    float* pos = m_positions.data_ptr<float>();
    float* dir = m_directions.data_ptr<float>();
    for_chunks(n_alive, kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int32_t r = ray(i);
        const float* o = m_o + 3 * r;
        const float* d = m_d + 3 * r;
        const float* slot_t = m_slot_t.data() + i * n_steps;
        const float* slot_dt = m_slot_dt.data() + i * n_steps;
        for (int64_t s = begin(i), k = 0; s < end(i); ++s, ++k) {
          const float t = slot_t[k];
          m_ts[static_cast<size_t>(s)] = t;
          m_dts[static_cast<size_t>(s)] = slot_dt[k];
          for (int a = 0; a < 3; ++a) {
            pos[3 * s + a] = o[a] + t * d[a];
            dir[3 * s + a] = d[a];
          }
        }
      }
    });
    return S;
  }

  /// Keeps the alive rays whose flag in `keep` (indexed like the alive set) is set, in order.
  void compact(const std::vector<uint8_t>& keep) {
    size_t n = 0;
    for (size_t i = 0; i < m_alive.size(); ++i)
      if (keep[i]) m_alive[n++] = m_alive[i];
    m_alive.resize(n);
  }

 private:
  const RayMarcher& m_marcher;
  const float* m_o;
  const float* m_d;
  const IncrementalConfig& m_config;
  std::vector<RayMarchState> m_states;
  std::vector<float> m_transmittance;
  std::vector<int32_t> m_alive;
  std::vector<float> m_slot_t, m_slot_dt;
  std::vector<int64_t> m_offsets;
  std::vector<float> m_ts, m_dts;
  int64_t m_capacity = 0;
  at::Tensor m_positions, m_directions;  ///< capacity rows; a round uses the first n_samples()
};

/// Renders rays in chunks of config.max_rays, each in rounds until no ray is alive: march (stats.march),
/// evaluate(rs, S) (stats.field), then composite(rs, chunk, keep) (stats.composite), which composites the
/// round onto the rays and sets keep[i] for the alive rays that go on.
template <typename Evaluate, typename Composite>
void run_rounds(const at::Tensor& origins, const at::Tensor& directions, const RayMarcher& marcher,
                const IncrementalConfig& config, IncrementalStats& stats, Evaluate&& evaluate,
                Composite&& composite) {
  const int64_t R = origins.size(0);
  const float* o = origins.data_ptr<float>();
  const float* d = directions.data_ptr<float>();
  std::vector<uint8_t> keep;
  for (int64_t chunk = 0; chunk < R; chunk += config.max_rays) {
    auto start = Clock::now();
    RoundState rs(marcher, o + 3 * chunk, d + 3 * chunk, std::min(config.max_rays, R - chunk), config);
    stats.march_seconds += seconds_since(start);
    while (!rs.done()) {
      start = Clock::now();
      const int64_t S = rs.march_round();
      ++stats.n_rounds;
      stats.n_samples += S;
      stats.march_seconds += seconds_since(start);

      start = Clock::now();
      evaluate(rs, S);
      stats.field_seconds += seconds_since(start);

      start = Clock::now();
      keep.assign(static_cast<size_t>(rs.n_alive()), 0);
      composite(rs, chunk, keep);
      rs.compact(keep);
      stats.composite_seconds += seconds_since(start);
    }
  }
}

struct Inputs {
  at::Tensor origins, directions;  ///< float32 contiguous [R,3]
};

Inputs prepare(const at::Tensor& origins, const at::Tensor& directions) {
  SEMFIELD_ASSERT(origins.dim() == 2 && origins.size(1) == 3 && origins.device().is_cpu(),
                  "incremental rendering: origins must be [R,3] on the CPU");
  SEMFIELD_ASSERT(directions.sizes() == origins.sizes() && directions.device().is_cpu(),
                  "incremental rendering: directions must be [R,3] like origins");
  SEMFIELD_ASSERT(origins.size(0) <= std::numeric_limits<int32_t>::max(), "incremental rendering: too many rays");
  return {origins.to(at::kFloat).contiguous(), directions.to(at::kFloat).contiguous()};
}

MarchConfig inference_march(MarchConfig march) {
  march.jitter = false;
  return march;
}

}  // namespace

IncrementalOutput render_incremental(const at::Tensor& origins_in, const at::Tensor& directions_in,
                                     const OccupancyGrid& grid, const MarchConfig& march, const SampleFieldFn& field,
                                     int channels, const IncrementalConfig& config) {
  check_config(config);
  SEMFIELD_ASSERT(field, "incremental rendering: needs a field callback");
  SEMFIELD_ASSERT(channels >= 1, "incremental rendering: channels must be >= 1");
  const SerialTorchScope serial;  // every parallel step below runs on parallel_slices' threads
  const Inputs in = prepare(origins_in, directions_in);
  const RayMarcher marcher(grid, inference_march(march));
  const int64_t R = in.origins.size(0);
  const int64_t C = channels;
  IncrementalOutput out;
  out.values = at::zeros({R, C}, at::kFloat);
  out.opacity = at::zeros({R}, at::kFloat);
  out.depth = at::zeros({R}, at::kFloat);
  float* values = out.values.data_ptr<float>();
  float* opacity = out.opacity.data_ptr<float>();
  float* depth = out.depth.data_ptr<float>();
  const float t_min = static_cast<float>(config.transmittance_min);
  const int64_t capacity = std::max(config.round_samples, std::min(config.max_rays, R));
  const at::Tensor sigma_buffer = at::empty({capacity}, at::kFloat);
  const at::Tensor value_buffer = at::empty({capacity, C}, at::kFloat);

  auto evaluate = [&](const RoundState& rs, int64_t S) {
    const at::Tensor positions = rs.positions(), directions = rs.directions();
    parallel_slices(S, field_slice(S, config.field_batch), [&](int64_t b, int64_t n) {
      const auto [sigma, value] = field(positions.narrow(0, b, n), directions.narrow(0, b, n));
      sigma_buffer.narrow(0, b, n).copy_(checked_output(sigma, n, -1, "density"));
      value_buffer.narrow(0, b, n).copy_(checked_output(value, n, C, "values"));
    });
  };
  // Front to back onto each ray; a ray retires once opaque (a sample counts while the transmittance before
  // it is >= t_min, as in kernels::composite) or marched out.
  auto composite = [&](RoundState& rs, int64_t chunk, std::vector<uint8_t>& keep) {
    const float* sigma = sigma_buffer.data_ptr<float>();
    const float* v = value_buffer.data_ptr<float>();
    const float* ts = rs.ts();
    const float* dts = rs.dts();
    for_chunks(rs.n_alive(), kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t r = chunk + rs.ray(i);
        float& T = rs.transmittance(rs.ray(i));
        float* acc = values + r * C;
        float op = opacity[r], dep = depth[r];
        for (int64_t s = rs.begin(i); s < rs.end(i) && !(T < t_min); ++s) {
          const float w = composite_sample(sigma[s], dts[s], T);
          for (int64_t c = 0; c < C; ++c) acc[c] += w * v[s * C + c];
          op += w;
          dep += w * ts[s];
        }
        opacity[r] = op;
        depth[r] = dep;
        keep[static_cast<size_t>(i)] = !(T < t_min) && !rs.finished(rs.ray(i));
      }
    });
  };
  run_rounds(in.origins, in.directions, marcher, config, out.stats, evaluate, composite);
  return out;
}

IncrementalWeights march_weights_incremental(const at::Tensor& origins_in, const at::Tensor& directions_in,
                                             const OccupancyGrid& grid, const MarchConfig& march,
                                             const SampleDensityFn& density, float min_weight,
                                             const IncrementalConfig& config) {
  check_config(config);
  SEMFIELD_ASSERT(density, "incremental weights: needs a density callback");
  SEMFIELD_ASSERT(min_weight >= 0.0f, "incremental weights: min_weight must be >= 0");
  const SerialTorchScope serial;  // every parallel step below runs on parallel_slices' threads
  const Inputs in = prepare(origins_in, directions_in);
  const RayMarcher marcher(grid, inference_march(march));
  const int64_t R = in.origins.size(0);
  IncrementalWeights out;
  out.opacity = at::zeros({R}, at::kFloat);
  out.depth = at::zeros({R}, at::kFloat);
  float* opacity = out.opacity.data_ptr<float>();
  float* depth = out.depth.data_ptr<float>();
  const float t_min = static_cast<float>(config.transmittance_min);
  const int64_t capacity = std::max(config.round_samples, std::min(config.max_rays, R));
  const at::Tensor sigma_buffer = at::empty({capacity}, at::kFloat);

  // Kept samples in the order they are found: rounds in order, alive rays in order within a round, front to
  // back within a ray. A stable counting sort by ray then packs them per ray, front to back.
  struct Kept {
    int32_t ray;
    float t, dt, w;
  };
  std::vector<Kept> kept;
  std::vector<int64_t> kept_per_ray(static_cast<size_t>(R) + 1, 0);  // counts at [r + 1]
  std::vector<float> weights;
  std::vector<int64_t> kept_offsets;

  auto evaluate = [&](const RoundState& rs, int64_t S) {
    const at::Tensor positions = rs.positions();
    parallel_slices(S, field_slice(S, config.field_batch), [&](int64_t b, int64_t n) {
      sigma_buffer.narrow(0, b, n).copy_(checked_output(density(positions.narrow(0, b, n)), n, -1, "density"));
    });
  };
  auto composite = [&](RoundState& rs, int64_t chunk, std::vector<uint8_t>& keep) {
    const int64_t n_alive = rs.n_alive();
    const float* sigma = sigma_buffer.data_ptr<float>();
    const float* ts = rs.ts();
    const float* dts = rs.dts();
    weights.resize(static_cast<size_t>(rs.n_samples()));
    kept_offsets.resize(static_cast<size_t>(n_alive) + 1);
    kept_offsets[0] = 0;
    // Weights; samples past a ray's termination get weight -1 (never kept).
    for_chunks(n_alive, kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t r = chunk + rs.ray(i);
        float& T = rs.transmittance(rs.ray(i));
        float op = opacity[r], dep = depth[r];
        int64_t n_kept = 0;
        int64_t s = rs.begin(i);
        for (; s < rs.end(i) && !(T < t_min); ++s) {
          const float w = composite_sample(sigma[s], dts[s], T);
          weights[static_cast<size_t>(s)] = w;
          if (w >= min_weight) {
            ++n_kept;
            op += w;
            dep += w * ts[s];
          }
        }
        for (; s < rs.end(i); ++s) weights[static_cast<size_t>(s)] = -1.0f;
        opacity[r] = op;
        depth[r] = dep;
        kept_offsets[static_cast<size_t>(i) + 1] = n_kept;
        kept_per_ray[static_cast<size_t>(r) + 1] += n_kept;
        keep[static_cast<size_t>(i)] = !(T < t_min) && !rs.finished(rs.ray(i));
      }
    });
    for (size_t i = 0; i < static_cast<size_t>(n_alive); ++i) kept_offsets[i + 1] += kept_offsets[i];
    const size_t base = kept.size();
    kept.resize(base + static_cast<size_t>(kept_offsets.back()));
    for_chunks(n_alive, kRayGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int32_t r = static_cast<int32_t>(chunk + rs.ray(i));
        size_t k = base + static_cast<size_t>(kept_offsets[static_cast<size_t>(i)]);
        for (int64_t s = rs.begin(i); s < rs.end(i); ++s) {
          const float w = weights[static_cast<size_t>(s)];
          if (w >= min_weight && w >= 0.0f) kept[k++] = {r, ts[s], dts[s], w};
        }
      }
    });
  };
  run_rounds(in.origins, in.directions, marcher, config, out.stats, evaluate, composite);

  // Pack per ray (stable counting sort) and expand positions and directions.
  const auto start = Clock::now();
  const int64_t S = static_cast<int64_t>(kept.size());
  out.samples.ray_offsets = at::empty({R + 1}, at::kLong);
  int64_t* offsets = out.samples.ray_offsets.data_ptr<int64_t>();
  offsets[0] = 0;
  for (int64_t r = 0; r < R; ++r) offsets[r + 1] = offsets[r] + kept_per_ray[static_cast<size_t>(r) + 1];
  std::vector<int64_t> order(static_cast<size_t>(S));
  {
    std::vector<int64_t> cursor(offsets, offsets + R);
    for (int64_t k = 0; k < S; ++k)
      order[static_cast<size_t>(cursor[static_cast<size_t>(kept[static_cast<size_t>(k)].ray)]++)] = k;
  }
  out.samples.positions = at::empty({S, 3}, at::kFloat);
  out.samples.directions = at::empty({S, 3}, at::kFloat);
  out.samples.ts = at::empty({S}, at::kFloat);
  out.samples.dts = at::empty({S}, at::kFloat);
  out.weights = at::empty({S}, at::kFloat);
  float* pos = out.samples.positions.data_ptr<float>();
  float* dir = out.samples.directions.data_ptr<float>();
  float* ts = out.samples.ts.data_ptr<float>();
  float* dts = out.samples.dts.data_ptr<float>();
  float* w = out.weights.data_ptr<float>();
  const float* o = in.origins.data_ptr<float>();
  const float* d = in.directions.data_ptr<float>();
  for_chunks(S, 16 * kRayGrain, [&](int64_t b, int64_t e) {
    for (int64_t s = b; s < e; ++s) {
      const Kept& k = kept[static_cast<size_t>(order[static_cast<size_t>(s)])];
      const float* ro = o + 3 * static_cast<int64_t>(k.ray);
      const float* rd = d + 3 * static_cast<int64_t>(k.ray);
      for (int a = 0; a < 3; ++a) {
        pos[3 * s + a] = ro[a] + k.t * rd[a];
        dir[3 * s + a] = rd[a];
      }
      ts[s] = k.t;
      dts[s] = k.dt;
      w[s] = k.w;
    }
  });
  out.stats.composite_seconds += seconds_since(start);
  return out;
}

}  // namespace semfield
