// Tests for the ray marcher: chords, occupied-only samples against a brute-force walk, packing, caps, jitter,
// thread independence, contracted marching, resumable marching.
#include "semfield/render/ray_marcher.h"

#include <cmath>
#include <functional>
#include <map>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/core/error.h"
#include "semfield/render/contraction.h"

using semfield::march_rays;
using semfield::MarchConfig;
using semfield::OccupancyGrid;
using semfield::OccupancyGridConfig;
using semfield::PackedSamples;

namespace {

const Eigen::Vector3f kMarchMin(-1, -1, -1), kMarchMax(1, 1, 1);

OccupancyGridConfig grid_config(int res) {
  OccupancyGridConfig c;
  c.resolution = res;
  return c;
}

/// Sets each cell's bit from a predicate on its centre in scene coordinates (uncontracted).
void set_occupancy(OccupancyGrid& grid, const std::function<bool(const Eigen::Vector3f&)>& occupied,
                   bool refresh = true) {
  const int res = grid.resolution();
  uint8_t* bits = grid.bitfield().data_ptr<uint8_t>();
  const Eigen::Vector3f size = (grid.grid_max() - grid.grid_min()) / float(res);
  for (int i = 0; i < res; ++i)
    for (int j = 0; j < res; ++j)
      for (int k = 0; k < res; ++k) {
        Eigen::Vector3f p =
            grid.grid_min() + Eigen::Vector3f(i + 0.5f, j + 0.5f, k + 0.5f).cwiseProduct(size);
        if (grid.contracted()) semfield::uncontract_point(p.data(), p.data());
        bits[(int64_t(i) * res + j) * res + k] = occupied(p) ? 1 : 0;
      }
  if (refresh) grid.refresh_levels();
}

at::Tensor unit_rows(const at::Tensor& d) { return d / d.norm(2, 1, true); }

struct Ray {
  at::Tensor o, d;  // [1,3]
};
Ray make_ray(std::initializer_list<float> o, std::initializer_list<float> d) {
  return {torch::tensor(std::vector<float>(o)).reshape({1, 3}),
          unit_rows(torch::tensor(std::vector<float>(d)).reshape({1, 3}))};
}

/// Checks the packing invariants and that every sample's midpoint is in an occupied cell.
void expect_well_formed(const PackedSamples& s, const at::Tensor& origins, const at::Tensor& directions,
                        const OccupancyGrid& grid) {
  const int64_t R = origins.size(0);
  const int64_t S = s.n_samples();
  ASSERT_EQ(s.ray_offsets.scalar_type(), torch::kLong);
  ASSERT_EQ(s.ray_offsets.size(0), R + 1);
  const int64_t* off = s.ray_offsets.data_ptr<int64_t>();
  EXPECT_EQ(off[0], 0);
  EXPECT_EQ(off[R], S);
  ASSERT_EQ(s.positions.sizes(), (std::vector<int64_t>{S, 3}));
  ASSERT_EQ(s.directions.sizes(), (std::vector<int64_t>{S, 3}));
  ASSERT_EQ(s.dts.size(0), S);
  const float* ts = s.ts.data_ptr<float>();
  const float* dts = s.dts.data_ptr<float>();
  const float* pos = s.positions.data_ptr<float>();
  const float* dir = s.directions.data_ptr<float>();
  const at::Tensor o_rows = origins.contiguous(), d_rows = directions.contiguous();
  const float* o = o_rows.data_ptr<float>();
  const float* d = d_rows.data_ptr<float>();
  for (int64_t r = 0; r < R; ++r) {
    ASSERT_LE(off[r], off[r + 1]);
    for (int64_t i = off[r]; i < off[r + 1]; ++i) {
      ASSERT_GT(dts[i], 0.0f);
      if (i > off[r]) {
        // Front to back, intervals never overlap.
        ASSERT_GE(ts[i] - 0.5f * dts[i], ts[i - 1] + 0.5f * dts[i - 1] - 1e-4f * ts[i]);
      }
      for (int a = 0; a < 3; ++a) {
        ASSERT_NEAR(pos[3 * i + a], o[3 * r + a] + ts[i] * d[3 * r + a], 1e-4f * (1 + ts[i]));
        ASSERT_EQ(dir[3 * i + a], d[3 * r + a]);
      }
      ASSERT_TRUE(grid.occupied_at(pos + 3 * i)) << "sample " << i << " of ray " << r << " at t " << ts[i];
    }
  }
}

double sum_dts(const PackedSamples& s, int64_t r) {
  const int64_t* off = s.ray_offsets.data_ptr<int64_t>();
  return s.dts.slice(0, off[r], off[r + 1]).sum().item<double>();
}

/// Index of the cell holding scene point p, or -1 outside the grid.
int64_t cell_of(const OccupancyGrid& grid, const float* p) {
  float y[3] = {p[0], p[1], p[2]};
  if (grid.contracted()) semfield::contract_point(y, y);
  const int res = grid.resolution();
  int64_t idx[3];
  for (int a = 0; a < 3; ++a) {
    const float g = (y[a] - grid.grid_min()[a]) / (grid.grid_max()[a] - grid.grid_min()[a]) * res;
    if (!(g >= 0 && g < res)) return -1;
    idx[a] = int64_t(g);
  }
  return (idx[0] * res + idx[1]) * res + idx[2];
}

struct Coverage {
  double length = 0.0;                 ///< occupied length along the ray
  int segments = 0;                    ///< empty -> occupied transitions
  std::map<int64_t, double> per_cell;  ///< occupied length in each cell
};

/// Brute-force walk of a ray over [t0, t1] in fine steps, measuring occupied length in total and per cell.
Coverage reference_coverage(const OccupancyGrid& grid, const float* o, const float* d, double t0, double t1,
                            double step) {
  Coverage out;
  bool previous = false;
  for (double t = t0 + 0.5 * step; t < t1; t += step) {
    const float p[3] = {float(o[0] + t * d[0]), float(o[1] + t * d[1]), float(o[2] + t * d[2])};
    const bool occupied = grid.occupied_at(p);
    if (occupied) {
      out.length += step;
      out.per_cell[cell_of(grid, p)] += step;
    }
    out.segments += occupied && !previous;
    previous = occupied;
  }
  return out;
}

/// Per-cell check against the brute-force walk: every occupied cell the ray crosses for more than two
/// steps gets samples covering its crossing to within a step at each end.
void expect_cells_covered(const PackedSamples& s, int64_t r, const OccupancyGrid& grid, const Coverage& ref,
                          double step, double slack) {
  std::map<int64_t, double> marched;
  const int64_t* off = s.ray_offsets.data_ptr<int64_t>();
  for (int64_t i = off[r]; i < off[r + 1]; ++i)
    marched[cell_of(grid, s.positions[i].contiguous().data_ptr<float>())] += s.dts[i].item<double>();
  for (const auto& [cell, length] : ref.per_cell) {
    if (length < 2 * step + slack) continue;
    EXPECT_NEAR(marched[cell], length, step + slack) << "ray " << r << " cell " << cell;
  }
}

TEST(RayMarcher, FullGridChordAlongAnAxis) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(16));
  grid.fill();
  MarchConfig config;
  const Ray ray = make_ray({-3.0f, 0.1f, 0.05f}, {1, 0, 0});
  const PackedSamples s = march_rays(ray.o, ray.d, grid, config);
  expect_well_formed(s, ray.o, ray.d, grid);
  EXPECT_NEAR(sum_dts(s, 0), 2.0, 1e-4);
  const float* ts = s.ts.data_ptr<float>();
  const float* dts = s.dts.data_ptr<float>();
  const int64_t S = s.n_samples();
  EXPECT_EQ(S, int64_t(std::ceil(2.0 / config.min_step)));
  EXPECT_NEAR(ts[0], 2.0f + 0.5f * config.min_step, 1e-5f);
  for (int64_t i = 0; i + 1 < S; ++i) {
    EXPECT_NEAR(dts[i], config.min_step, 1e-6f);
    // Without gaps: each interval starts where the previous one ended.
    EXPECT_NEAR(ts[i + 1] - 0.5f * dts[i + 1], ts[i] + 0.5f * dts[i], 1e-5f);
  }
  EXPECT_NEAR(ts[S - 1] + 0.5f * dts[S - 1], 4.0f, 1e-5f);
}

TEST(RayMarcher, FullGridChordAlongADiagonalAndFromInside) {
  OccupancyGrid grid(Eigen::Vector3f(-1, -2, 0), Eigen::Vector3f(3, 2, 1), false, grid_config(24));
  grid.fill();
  const at::Tensor o = torch::tensor({-2.0f, -3.0f, -1.0f, 1.0f, 0.0f, 0.5f}).reshape({2, 3});
  const at::Tensor d = unit_rows(torch::tensor({1.0f, 1.0f, 1.0f, 0.0f, 0.0f, -1.0f}).reshape({2, 3}));
  const PackedSamples s = march_rays(o, d, grid, MarchConfig{});
  expect_well_formed(s, o, d, grid);
  // Ray 0 enters the box where z = 0 (t = sqrt(3)) and leaves where z = 1 (t = 2 sqrt(3)).
  EXPECT_NEAR(sum_dts(s, 0), std::sqrt(3.0), 1e-4);
  // Ray 1 starts inside at z = 0.5 and leaves through z = 0.
  EXPECT_NEAR(sum_dts(s, 1), 0.5, 1e-4);
  EXPECT_NEAR(s.ts[s.ray_offsets[1].item<int64_t>()].item<float>(), 0.5f * MarchConfig{}.min_step, 1e-6f);
}

TEST(RayMarcher, NearAndFarClip) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(16));
  grid.fill();
  MarchConfig config;
  config.near = 2.5f;
  config.far = 3.25f;
  const Ray ray = make_ray({-3.0f, 0.0f, 0.0f}, {1, 0, 0});
  const PackedSamples s = march_rays(ray.o, ray.d, grid, config);
  EXPECT_NEAR(sum_dts(s, 0), 0.75, 1e-4);
  EXPECT_GE((s.ts - 0.5 * s.dts).min().item<float>(), 2.5f - 1e-5f);
  EXPECT_LE((s.ts + 0.5 * s.dts).max().item<float>(), 3.25f + 1e-5f);
}

TEST(RayMarcher, SamplesOnlyInsideAKnownSlab) {
  // Occupied: x in [-0.5, 0) (cells 4..7 of 16 along x).
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(16));
  set_occupancy(grid, [](const Eigen::Vector3f& p) { return p.x() > -0.5f && p.x() < 0.0f; });
  const Ray ray = make_ray({-3.0f, 0.3f, -0.2f}, {1, 0, 0});
  const PackedSamples s = march_rays(ray.o, ray.d, grid, MarchConfig{});
  expect_well_formed(s, ray.o, ray.d, grid);
  ASSERT_GT(s.n_samples(), 0);
  const float dt = MarchConfig{}.min_step;
  // Entering at the slab face: the first interval starts on it.
  EXPECT_NEAR((s.ts[0] - 0.5 * s.dts[0]).item<float>(), 2.5f, 1e-5f);
  EXPECT_LE(s.positions.select(1, 0).max().item<float>(), 0.0f);
  EXPECT_GE(s.positions.select(1, 0).min().item<float>(), -0.5f);
  EXPECT_NEAR(sum_dts(s, 0), 0.5, dt);
}

TEST(RayMarcher, MatchesABruteForceWalkOnASparseGrid) {
  // Two blobs and a thin shell: about 10 % occupied, with several segments per ray.
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(32));
  set_occupancy(grid, [](const Eigen::Vector3f& p) {
    return (p - Eigen::Vector3f(0.3f, 0.2f, -0.1f)).norm() < 0.35f ||
           (p - Eigen::Vector3f(-0.5f, -0.4f, 0.3f)).norm() < 0.25f || std::fabs(p.norm() - 0.85f) < 0.04f;
  });
  EXPECT_NEAR(grid.occupancy_fraction(), 0.1, 0.05);
  torch::manual_seed(7);
  const int64_t R = 300;
  // Rays from a sphere of radius 3 towards random points in the box (some miss).
  const at::Tensor o = unit_rows(torch::randn({R, 3})) * 3;
  const at::Tensor d = unit_rows(torch::rand({R, 3}) * 2.4 - 1.2 - o);
  MarchConfig config;
  const PackedSamples s = march_rays(o, d, grid, config);
  expect_well_formed(s, o, d, grid);
  const float* op = o.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  int checked = 0;
  for (int64_t r = 0; r < R; ++r) {
    const Coverage ref = reference_coverage(grid, op + 3 * r, dp + 3 * r, 0.0, 6.0, 2e-4);
    // Each occupied segment may gain or lose up to one step at its ends.
    EXPECT_NEAR(sum_dts(s, r), ref.length, (ref.segments + 1) * config.min_step + 1e-3) << "ray " << r;
    expect_cells_covered(s, r, grid, ref, config.min_step, 1e-3);
    checked += ref.segments > 0;
  }
  EXPECT_GT(checked, R / 2);
}

TEST(RayMarcher, MissingRaysAndEmptyBatches) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(8));
  grid.fill();
  // Misses the box; points away from it; parallel to a face outside the slab; NaN.
  const at::Tensor o =
      torch::tensor({-3.0f, 2.0f, 0.0f, 2.0f, 0.0f, 0.0f, -3.0f, 1.5f, 0.0f, NAN, 0.0f, 0.0f})
          .reshape({4, 3});
  const at::Tensor d =
      unit_rows(torch::tensor({1.0f, 0.1f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f})
                    .reshape({4, 3}));
  const PackedSamples s = march_rays(o, d, grid, MarchConfig{});
  EXPECT_EQ(s.n_samples(), 0);
  EXPECT_TRUE(torch::equal(s.ray_offsets, torch::zeros({5}, torch::kLong)));

  const PackedSamples none = march_rays(torch::zeros({0, 3}), torch::zeros({0, 3}), grid, MarchConfig{});
  EXPECT_EQ(none.n_samples(), 0);
  EXPECT_EQ(none.positions.size(0), 0);
  EXPECT_TRUE(torch::equal(none.ray_offsets, torch::zeros({1}, torch::kLong)));

  // An empty grid gives no samples, quickly.
  OccupancyGrid empty(kMarchMin, kMarchMax, false, grid_config(8));
  const Ray ray = make_ray({-3.0f, 0.0f, 0.0f}, {1, 0.2f, 0.1f});
  EXPECT_EQ(march_rays(ray.o, ray.d, empty, MarchConfig{}).n_samples(), 0);
}

TEST(RayMarcher, CapsSamplesPerRay) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(16));
  grid.fill();
  const at::Tensor o = torch::tensor({-3.0f, 0.0f, 0.0f, 0.0f, -3.0f, 0.2f}).reshape({2, 3});
  const at::Tensor d = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}).reshape({2, 3});
  MarchConfig config;
  const PackedSamples full = march_rays(o, d, grid, config);
  config.max_samples_per_ray = 10;
  const PackedSamples capped = march_rays(o, d, grid, config);
  EXPECT_TRUE(torch::equal(capped.ray_offsets, torch::tensor({0, 10, 20}, torch::kLong)));
  EXPECT_TRUE(torch::equal(capped.ts.slice(0, 0, 10), full.ts.slice(0, 0, 10)));
  const int64_t second = full.ray_offsets[1].item<int64_t>();
  EXPECT_TRUE(torch::equal(capped.ts.slice(0, 10, 20), full.ts.slice(0, second, second + 10)));
  config.max_samples_per_ray = 0;
  EXPECT_EQ(march_rays(o, d, grid, config).n_samples(), 0);
}

TEST(RayMarcher, JitterIsDeterministicPerSeedAndStaysInOccupiedCells) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(32));
  set_occupancy(grid, [](const Eigen::Vector3f& p) { return p.norm() < 0.6f; });
  torch::manual_seed(11);
  const at::Tensor o = unit_rows(torch::randn({200, 3})) * 3;
  const at::Tensor d = unit_rows(torch::rand({200, 3}) - 0.5 - o);
  MarchConfig config;
  config.jitter = true;
  config.seed = 5;
  const PackedSamples a = march_rays(o, d, grid, config);
  const PackedSamples b = march_rays(o, d, grid, config);
  expect_well_formed(a, o, d, grid);
  EXPECT_TRUE(torch::equal(a.ts, b.ts));
  EXPECT_TRUE(torch::equal(a.ray_offsets, b.ray_offsets));
  config.seed = 6;
  const PackedSamples c = march_rays(o, d, grid, config);
  ASSERT_GT(c.n_samples(), 0);
  EXPECT_FALSE(a.n_samples() == c.n_samples() && torch::equal(a.ts, c.ts));
  config.jitter = false;
  const PackedSamples plain = march_rays(o, d, grid, config);
  // Jittered sample phases spread over a whole step; unjittered rays all start on a cell face.
  EXPECT_NEAR(a.dts.sum().item<double>(), plain.dts.sum().item<double>(),
              0.01 * plain.dts.sum().item<double>());
}

TEST(RayMarcher, ResultDoesNotDependOnThreadCount) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(32));
  set_occupancy(grid, [](const Eigen::Vector3f& p) { return p.norm() < 0.5f || p.x() > 0.8f; });
  torch::manual_seed(12);
  const at::Tensor o = unit_rows(torch::randn({3000, 3})) * 3;
  const at::Tensor d = unit_rows(torch::rand({3000, 3}) - 0.5 - o);
  MarchConfig config;
  config.jitter = true;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const PackedSamples one = march_rays(o, d, grid, config);
  at::set_num_threads(2);
  const PackedSamples two = march_rays(o, d, grid, config);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.ray_offsets, two.ray_offsets));
  EXPECT_TRUE(torch::equal(one.ts, two.ts));
  EXPECT_TRUE(torch::equal(one.positions, two.positions));
}

TEST(RayMarcher, StaleLevelsGiveTheSameSamples) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(16));
  set_occupancy(
      grid, [](const Eigen::Vector3f& p) { return p.norm() < 0.5f; }, /*refresh=*/false);
  ASSERT_EQ(grid.levels(), nullptr);
  const Ray ray = make_ray({-3.0f, 0.1f, 0.0f}, {1, 0, 0});
  const PackedSamples stale = march_rays(ray.o, ray.d, grid, MarchConfig{});
  grid.refresh_levels();
  const PackedSamples fresh = march_rays(ray.o, ray.d, grid, MarchConfig{});
  ASSERT_GT(fresh.n_samples(), 0);
  EXPECT_TRUE(torch::equal(stale.ts, fresh.ts));
}

TEST(RayMarcher, ConeAngleGrowsSteps) {
  OccupancyGrid grid(Eigen::Vector3f(-1, -1, -1), Eigen::Vector3f(20, 1, 1), false, grid_config(32));
  grid.fill();
  MarchConfig config;
  config.cone_angle = 1.0f / 64.0f;
  config.max_step = 0.2f;
  config.max_samples_per_ray = 100000;
  const Ray ray = make_ray({0.0f, 0.0f, 0.0f}, {1, 0, 0});
  const PackedSamples s = march_rays(ray.o, ray.d, grid, config);
  expect_well_formed(s, ray.o, ray.d, grid);
  EXPECT_NEAR(sum_dts(s, 0), 20.0, 1e-3);
  const float* ts = s.ts.data_ptr<float>();
  const float* dts = s.dts.data_ptr<float>();
  for (int64_t i = 0; i + 1 < s.n_samples(); ++i) {
    const float t0 = ts[i] - 0.5f * dts[i];
    EXPECT_NEAR(dts[i], std::clamp(t0 * config.cone_angle, config.min_step, config.max_step), 1e-5f);
  }
  // The knee at t = 0.2165 and the cap at t = 12.8: the last full step is max_step.
  EXPECT_NEAR(dts[s.n_samples() - 2], 0.2f, 1e-6f);
  EXPECT_LT(dts[10], 0.004f);
}

TEST(RayMarcher, ContractedGridReachesFarWithGrowingSteps) {
  OccupancyGrid grid(kMarchMin, kMarchMax, true, grid_config(32));
  grid.fill();
  MarchConfig config;
  config.cone_angle = 1.0f / 256.0f;
  config.far = 1000.0f;
  config.max_samples_per_ray = 100000;
  const Ray ray = make_ray({0.1f, 0.2f, 0.0f}, {1, 0.3f, -0.2f});
  const PackedSamples s = march_rays(ray.o, ray.d, grid, config);
  expect_well_formed(s, ray.o, ray.d, grid);
  const int64_t S = s.n_samples();
  const float* ts = s.ts.data_ptr<float>();
  const float* dts = s.dts.data_ptr<float>();
  EXPECT_NEAR(ts[S - 1] + 0.5f * dts[S - 1], 1000.0f, 1e-2f);
  EXPECT_NEAR(sum_dts(s, 0), 1000.0, 0.1);
  for (int64_t i = 0; i + 2 < S; ++i) EXPECT_GE(dts[i + 1], dts[i] - 1e-6f);
  EXPECT_NEAR(dts[S - 2], (ts[S - 2] - 0.5f * dts[S - 2]) / 256.0f, 1e-3f);
  // About min_step-sized steps up to t = min_step * 256, then geometric growth: ~ 256 ln(far / t_knee).
  const double t_knee = config.min_step * 256.0;
  EXPECT_NEAR(double(S), t_knee / config.min_step + 256.0 * std::log(1000.0 / t_knee), 20.0);
}

TEST(RayMarcher, ContractedGridSkipsToAFarShellAndMatchesABruteForceWalk) {
  // Occupied only where 6 <= |x|_inf <= 12 (contracted norms 1.83 .. 1.92): the ray must cross empty
  // space near and far and still find the shell.
  OccupancyGrid grid(kMarchMin, kMarchMax, true, grid_config(64));
  set_occupancy(grid, [](const Eigen::Vector3f& p) {
    const float n = p.cwiseAbs().maxCoeff();
    return n >= 6.0f && n <= 12.0f;
  });
  torch::manual_seed(13);
  const int64_t R = 64;
  const at::Tensor o = torch::rand({R, 3}) - 0.5;
  const at::Tensor d = unit_rows(torch::randn({R, 3}));
  MarchConfig config;
  config.cone_angle = 1.0f / 256.0f;
  config.far = 200.0f;
  const PackedSamples s = march_rays(o, d, grid, config);
  expect_well_formed(s, o, d, grid);
  const float* op = o.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  for (int64_t r = 0; r < R; ++r) {
    const Coverage ref = reference_coverage(grid, op + 3 * r, dp + 3 * r, 0.0, 200.0, 1e-3);
    ASSERT_GE(ref.segments, 1);
    // Steps are about t / 256 <= 0.11 in the shell.
    EXPECT_NEAR(sum_dts(s, r), ref.length, (ref.segments + 1) * 0.11) << "ray " << r;
    expect_cells_covered(s, r, grid, ref, 0.11, 1e-2);
  }
  // No samples in the empty core.
  EXPECT_GE(std::get<0>(s.positions.abs().max(1)).min().item<float>(), 5.0f);
}

TEST(RayMarcher, ContractedGridMatchesABruteForceWalkCellByCell) {
  // Random cells everywhere (inner cube, contracted shell, the outer boundary's cells), constant steps:
  // every exit through the curved faces of contracted space must land where the walk says.
  OccupancyGrid grid(kMarchMin, kMarchMax, true, grid_config(32));
  torch::manual_seed(14);
  const at::Tensor random_bits = (torch::rand({32 * 32 * 32}) < 0.12).to(torch::kUInt8);
  grid.bitfield().copy_(random_bits);
  grid.refresh_levels();
  const int64_t R = 48;
  const at::Tensor o = (torch::rand({R, 3}) - 0.5) * 3;
  const at::Tensor d = unit_rows(torch::randn({R, 3}));
  MarchConfig config;
  config.min_step = 0.02f;
  config.far = 40.0f;
  config.max_samples_per_ray = 100000;
  const PackedSamples s = march_rays(o, d, grid, config);
  expect_well_formed(s, o, d, grid);
  const float* op = o.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  for (int64_t r = 0; r < R; ++r) {
    const Coverage ref = reference_coverage(grid, op + 3 * r, dp + 3 * r, 0.0, 40.0, 2e-3);
    EXPECT_NEAR(sum_dts(s, r), ref.length, (ref.segments + 1) * config.min_step + 0.01) << "ray " << r;
    expect_cells_covered(s, r, grid, ref, config.min_step, 5e-3);
  }
}

TEST(RayMarcher, ContractedGridWithAnInnerObjectOnlyMarchesItsBox) {
  // Occupied cells all inside the unit cube: rays are clipped to their box in world space.
  OccupancyGrid grid(kMarchMin, kMarchMax, true, grid_config(32));
  set_occupancy(grid, [](const Eigen::Vector3f& p) { return p.norm() < 0.5f; });
  torch::manual_seed(15);
  const int64_t R = 64;
  const at::Tensor o = unit_rows(torch::randn({R, 3})) * 5;
  const at::Tensor d = unit_rows(torch::rand({R, 3}) * 1.6 - 0.8 - o);
  MarchConfig config;
  config.cone_angle = 1.0f / 256.0f;
  const PackedSamples s = march_rays(o, d, grid, config);
  expect_well_formed(s, o, d, grid);
  const float* op = o.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  int hits = 0;
  for (int64_t r = 0; r < R; ++r) {
    const Coverage ref = reference_coverage(grid, op + 3 * r, dp + 3 * r, 0.0, 10.0, 2e-4);
    EXPECT_NEAR(sum_dts(s, r), ref.length, (ref.segments + 1) * 0.03) << "ray " << r;
    expect_cells_covered(s, r, grid, ref, 0.03, 1e-3);
    hits += ref.segments > 0;
  }
  EXPECT_GT(hits, R / 4);
  EXPECT_LT(hits, R);
}

/// Advances every ray of a batch through RayMarcher in steps of 1..5 samples (varying per call) and checks
/// that the concatenated samples are bit-identical to march_rays' (unjittered configs).
void expect_resumable_matches(const at::Tensor& o, const at::Tensor& d, const OccupancyGrid& grid,
                              const MarchConfig& config) {
  const PackedSamples ref = march_rays(o, d, grid, config);
  const semfield::RayMarcher marcher(grid, config);
  const float* op = o.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  const int64_t* off = ref.ray_offsets.data_ptr<int64_t>();
  const float* ref_t = ref.ts.data_ptr<float>();
  const float* ref_dt = ref.dts.data_ptr<float>();
  const int64_t R = o.size(0);
  for (int64_t r = 0; r < R; ++r) {
    semfield::RayMarchState state = marcher.start(op + 3 * r, dp + 3 * r);
    std::vector<float> ts, dts;
    float t[5], dt[5];
    for (int call = 0; !state.finished; ++call) {
      ASSERT_LT(call, 100000) << "ray " << r << " never finishes";
      const int budget = 1 + (call + int(r)) % 5;
      const int n = marcher.advance(op + 3 * r, dp + 3 * r, state, budget, t, dt);
      ASSERT_LE(n, budget);
      ASSERT_EQ(state.n_samples, int(ts.size()) + n);
      ts.insert(ts.end(), t, t + n);
      dts.insert(dts.end(), dt, dt + n);
    }
    EXPECT_EQ(marcher.advance(op + 3 * r, dp + 3 * r, state, 5, t, dt), 0);
    ASSERT_EQ(int64_t(ts.size()), off[r + 1] - off[r]) << "ray " << r;
    for (size_t i = 0; i < ts.size(); ++i) {
      ASSERT_EQ(ts[i], ref_t[off[r] + int64_t(i)]) << "ray " << r << " sample " << i;
      ASSERT_EQ(dts[i], ref_dt[off[r] + int64_t(i)]) << "ray " << r << " sample " << i;
    }
  }
}

TEST(RayMarcher, ResumedMarchingGivesTheSamplesOfOneGo) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(32));
  set_occupancy(grid, [](const Eigen::Vector3f& p) { return p.norm() < 0.5f || p.x() > 0.8f; });
  torch::manual_seed(16);
  const at::Tensor o = unit_rows(torch::randn({300, 3})) * 3;
  const at::Tensor d = unit_rows(torch::rand({300, 3}) - 0.5 - o);
  MarchConfig config;
  expect_resumable_matches(o, d, grid, config);
  config.max_samples_per_ray = 7;  // the cap ends rays too
  expect_resumable_matches(o, d, grid, config);
  config = MarchConfig{};
  config.cone_angle = 0.01f;
  config.near = 2.5f;
  expect_resumable_matches(o, d, grid, config);

  OccupancyGrid contracted(kMarchMin, kMarchMax, true, grid_config(32));
  set_occupancy(contracted, [](const Eigen::Vector3f& p) {
    const float n = p.cwiseAbs().maxCoeff();
    return n < 0.4f || (n >= 6.0f && n <= 12.0f);
  });
  config = MarchConfig{};
  config.cone_angle = 1.0f / 256.0f;
  config.far = 100.0f;
  config.max_step = 1.0f;
  expect_resumable_matches(torch::rand({100, 3}) - 0.5, unit_rows(torch::randn({100, 3})), contracted, config);
  // Rays that miss, start finished.
  const Ray miss = make_ray({-3.0f, 2.0f, 0.0f}, {1, 0, 0});
  EXPECT_TRUE(semfield::RayMarcher(grid, MarchConfig{}).start(miss.o.data_ptr<float>(), miss.d.data_ptr<float>()).finished);
  MarchConfig bad;
  bad.min_step = -1.0f;
  EXPECT_THROW(semfield::RayMarcher(grid, bad), semfield::UsageError);
}

TEST(RayMarcher, RejectsBadConfig) {
  OccupancyGrid grid(kMarchMin, kMarchMax, false, grid_config(8));
  const Ray ray = make_ray({-3.0f, 0.0f, 0.0f}, {1, 0, 0});
  MarchConfig bad;
  bad.min_step = 0.0f;
  EXPECT_THROW(march_rays(ray.o, ray.d, grid, bad), semfield::UsageError);
  bad = MarchConfig{};
  bad.far = bad.near;
  EXPECT_THROW(march_rays(ray.o, ray.d, grid, bad), semfield::UsageError);
  bad = MarchConfig{};
  bad.cone_angle = -1.0f;
  EXPECT_THROW(march_rays(ray.o, ray.d, grid, bad), semfield::UsageError);
  EXPECT_THROW(march_rays(torch::zeros({2, 3}), torch::zeros({3, 3}), grid, MarchConfig{}), std::logic_error);
}

}  // namespace
