// Tests for incremental rendering: agreement with marching every sample and compositing it (colour,
// opacity, depth, weights), early termination, misses, empty batches, chunking, threads, field errors.
#include "semfield/render/incremental_renderer.h"

#include <atomic>
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"

namespace semfield {
namespace {

const Eigen::Vector3f kMin(-1, -1, -1), kMax(1, 1, 1);

/// A dense ball of radius 0.5 with a soft surface (rays through it turn opaque) in a faint haze; the
/// occupancy grid marks the ball |p| < 0.8.
at::Tensor blob_density(const at::Tensor& p) {
  return 500.0f * at::sigmoid((0.5f - p.norm(2, 1)) / 0.01f) + 0.02f;
}

/// Colour from position and direction, so a wrong sample order or wrong ray shows up.
at::Tensor blob_color(const at::Tensor& p, const at::Tensor& d) {
  return at::sigmoid(3.0f * p + d.roll(1, 1));
}

OccupancyGrid blob_grid() {
  OccupancyGridConfig config;
  config.resolution = 32;
  OccupancyGrid grid(kMin, kMax, false, config);
  const int res = config.resolution;
  uint8_t* bits = grid.bitfield().data_ptr<uint8_t>();
  for (int i = 0; i < res; ++i)
    for (int j = 0; j < res; ++j)
      for (int k = 0; k < res; ++k) {
        const Eigen::Vector3f p =
            kMin + (Eigen::Vector3f(i, j, k) + Eigen::Vector3f::Constant(0.5f)) * (2.0f / float(res));
        bits[(int64_t(i) * res + j) * res + k] = p.norm() < 0.8f;
      }
  grid.refresh_levels();
  return grid;
}

struct Rays {
  at::Tensor o, d;
};

/// Rays from a sphere of radius 3 towards points near the centre; about a fifth miss the occupied ball.
Rays random_rays(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  at::Tensor o = torch::randn({n, 3});
  o = 3.0f * o / o.norm(2, 1, true);
  at::Tensor d = 2.0f * (torch::rand({n, 3}) - 0.5f) - o;
  d = d / d.norm(2, 1, true);
  return {o, d};
}

MarchConfig march_config() {
  MarchConfig m;
  m.min_step = 2.0f * std::sqrt(3.0f) / 256.0f;
  return m;
}

/// The blob as the renderer's field callback; counts the rows it is called with.
SampleFieldFn blob_field(std::atomic<int64_t>* rows = nullptr) {
  return [rows](const at::Tensor& p, const at::Tensor& d) {
    if (rows) *rows += p.size(0);
    return std::make_pair(blob_density(p), blob_color(p, d));
  };
}

/// Every sample marched in one go and composited with the kernel (the pre-incremental renderer).
kernels::CompositeOutputs full_composite(const Rays& rays, const OccupancyGrid& grid, PackedSamples* samples_out = nullptr) {
  const PackedSamples s = march_rays(rays.o, rays.d, grid, march_config());
  if (samples_out) *samples_out = s;
  return kernels::composite_forward(blob_density(s.positions), blob_color(s.positions, s.directions), s.dts, s.ts,
                                    s.ray_offsets);
}

void expect_near_all(const at::Tensor& a, const at::Tensor& b, double tol, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = a.numel() ? (a - b).abs().max().item<double>() : 0.0;
  EXPECT_LE(err, tol) << what;
}

TEST(IncrementalRenderer, MatchesCompositingEverySample) {
  const OccupancyGrid grid = blob_grid();
  const Rays rays = random_rays(600, 1);
  PackedSamples all;
  const kernels::CompositeOutputs ref = full_composite(rays, grid, &all);
  // Some rays must turn opaque and some must miss for this test to mean anything.
  ASSERT_GT((ref.opacity > 0.9999f).sum().item<int64_t>(), 100);
  ASSERT_GT((ref.opacity == 0.0f).sum().item<int64_t>(), 20);
  // Many small rounds, rounds evaluated in many small slices in parallel, and the default.
  std::vector<IncrementalConfig> configs(3);
  configs[0].round_samples = 64;
  configs[0].max_steps = 3;
  configs[1].round_samples = 5000;
  configs[1].field_batch = 97;
  for (const IncrementalConfig& config : configs) {
    std::atomic<int64_t> rows{0};
    const IncrementalOutput out =
        render_incremental(rays.o, rays.d, grid, march_config(), blob_field(&rows), 3, config);
    expect_near_all(out.values, ref.values, 1e-5, "values");
    expect_near_all(out.opacity, ref.opacity, 1e-5, "opacity");
    expect_near_all(out.depth, ref.depth, 1e-5, "depth");
    // Early termination: far fewer samples evaluated than marched, but at least every sample with weight.
    EXPECT_LT(out.stats.n_samples, all.n_samples() * 2 / 3);
    EXPECT_GE(out.stats.n_samples, (ref.weights > 0).sum().item<int64_t>());
    EXPECT_GT(out.stats.n_rounds, 1);
    EXPECT_EQ(rows.load(), out.stats.n_samples);
  }
}

TEST(IncrementalRenderer, MissesAndEmptyBatches) {
  const OccupancyGrid grid = blob_grid();
  // Misses the box; points away; starts beyond the ball looking outwards; NaN.
  const at::Tensor o = torch::tensor({-3.f, 2.f, 0.f, 2.f, 0.f, 0.f, 0.f, 0.f, 0.95f, NAN, 0.f, 0.f}).reshape({4, 3});
  const at::Tensor d = torch::tensor({1.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f}).reshape({4, 3});
  const IncrementalOutput out = render_incremental(o, d, grid, march_config(), blob_field(), 3);
  EXPECT_TRUE(torch::equal(out.values, torch::zeros({4, 3})));
  EXPECT_TRUE(torch::equal(out.opacity, torch::zeros({4})));
  EXPECT_TRUE(torch::equal(out.depth, torch::zeros({4})));
  EXPECT_EQ(out.stats.n_samples, 0);

  std::atomic<int64_t> rows{0};
  const IncrementalOutput none =
      render_incremental(torch::zeros({0, 3}), torch::zeros({0, 3}), grid, march_config(), blob_field(&rows), 3);
  EXPECT_EQ(none.values.sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(none.opacity.size(0), 0);
  EXPECT_EQ(none.depth.size(0), 0);
  EXPECT_EQ(rows.load(), 0);

  const IncrementalWeights w = march_weights_incremental(torch::zeros({0, 3}), torch::zeros({0, 3}), grid,
                                                         march_config(), blob_density, 0.0f);
  EXPECT_EQ(w.samples.n_samples(), 0);
  EXPECT_TRUE(torch::equal(w.samples.ray_offsets, torch::zeros({1}, torch::kLong)));
  EXPECT_EQ(w.opacity.size(0), 0);

  // An empty grid: nothing to march, the field is never called.
  OccupancyGrid empty(kMin, kMax, false, OccupancyGridConfig{});
  const SampleFieldFn never = [](const at::Tensor&, const at::Tensor&) -> std::pair<at::Tensor, at::Tensor> {
    throw std::runtime_error("field called");
  };
  const Rays rays = random_rays(10, 3);
  EXPECT_EQ(render_incremental(rays.o, rays.d, empty, march_config(), never, 3).stats.n_samples, 0);
}

TEST(IncrementalRenderer, ResultDoesNotDependOnThreadsOrChunking) {
  const OccupancyGrid grid = blob_grid();
  const Rays rays = random_rays(3000, 4);
  const int threads = parallel_threads();
  set_parallel_threads(1);
  const IncrementalOutput one = render_incremental(rays.o, rays.d, grid, march_config(), blob_field(), 3);
  const IncrementalWeights w_one =
      march_weights_incremental(rays.o, rays.d, grid, march_config(), blob_density, 1e-5f);
  set_parallel_threads(2);
  const IncrementalOutput two = render_incremental(rays.o, rays.d, grid, march_config(), blob_field(), 3);
  const IncrementalWeights w_two =
      march_weights_incremental(rays.o, rays.d, grid, march_config(), blob_density, 1e-5f);
  set_parallel_threads(threads);
  EXPECT_TRUE(torch::equal(one.values, two.values));
  EXPECT_TRUE(torch::equal(one.depth, two.depth));
  EXPECT_TRUE(torch::equal(w_one.weights, w_two.weights));
  EXPECT_TRUE(torch::equal(w_one.samples.ray_offsets, w_two.samples.ray_offsets));

  // Rays rendered 7 at a time give what one batch gives (the rounds are cut differently).
  IncrementalConfig chunked;
  chunked.max_rays = 7;
  const IncrementalOutput seven = render_incremental(rays.o, rays.d, grid, march_config(), blob_field(), 3, chunked);
  expect_near_all(seven.values, one.values, 1e-6, "values (chunked)");
  expect_near_all(seven.opacity, one.opacity, 1e-6, "opacity (chunked)");
}

TEST(IncrementalWeights, MatchCompositingEverySample) {
  const OccupancyGrid grid = blob_grid();
  const Rays rays = random_rays(500, 5);
  PackedSamples all;
  const kernels::CompositeOutputs ref = full_composite(rays, grid, &all);
  const float min_weight = 1e-5f;
  IncrementalConfig config;
  config.round_samples = 200;
  const IncrementalWeights w =
      march_weights_incremental(rays.o, rays.d, grid, march_config(), blob_density, min_weight, config);

  // The kept samples are exactly the full march's samples with weight >= min_weight, in the same order.
  const at::Tensor keep = ref.weights >= min_weight;
  const int64_t R = rays.o.size(0);
  const at::Tensor counts = all.ray_offsets.narrow(0, 1, R) - all.ray_offsets.narrow(0, 0, R);
  const at::Tensor ray_of = at::repeat_interleave(at::arange(R, at::kLong), counts, 0, all.n_samples());
  ASSERT_EQ(w.samples.n_samples(), keep.sum().item<int64_t>());
  ASSERT_GT(w.samples.n_samples(), 1000);
  at::Tensor expected_offsets = at::zeros({R + 1}, at::kLong);
  expected_offsets.narrow(0, 1, R).copy_(at::bincount(ray_of.masked_select(keep), {}, R).cumsum(0));
  EXPECT_TRUE(torch::equal(w.samples.ray_offsets, expected_offsets));
  EXPECT_TRUE(torch::equal(w.samples.ts, all.ts.masked_select(keep)));
  EXPECT_TRUE(torch::equal(w.samples.dts, all.dts.masked_select(keep)));
  expect_near_all(w.weights, ref.weights.masked_select(keep), 1e-6, "weights");
  expect_near_all(w.samples.positions, all.positions.index({keep}), 1e-6, "positions");
  EXPECT_TRUE(torch::equal(w.samples.directions, all.directions.index({keep})));

  // Opacity and depth sum the kept weights: consistent with them, and within the dropped weight of the
  // full composite.
  const at::Tensor kept_rays = ray_of.masked_select(keep);
  expect_near_all(w.opacity, at::zeros({R}).index_add(0, kept_rays, w.weights), 1e-5, "opacity = sum w");
  expect_near_all(w.depth, at::zeros({R}).index_add(0, kept_rays, w.weights * w.samples.ts), 1e-5, "depth");
  expect_near_all(w.opacity, ref.opacity, 1e-3, "opacity vs full composite");
  expect_near_all(w.depth, ref.depth, 1e-3 * 4, "depth vs full composite");
  EXPECT_LT(w.stats.n_samples, all.n_samples() * 2 / 3);
}

TEST(IncrementalRenderer, FieldErrorsReachTheCaller) {
  const OccupancyGrid grid = blob_grid();
  const Rays rays = random_rays(2000, 7);
  IncrementalConfig config;
  config.field_batch = 500;  // several slices per round, on several threads
  std::atomic<int> calls{0};
  const SampleFieldFn failing = [&](const at::Tensor& p, const at::Tensor& d) {
    if (++calls == 3) throw std::runtime_error("field failed");
    return std::make_pair(blob_density(p), blob_color(p, d));
  };
  EXPECT_THROW(render_incremental(rays.o, rays.d, grid, march_config(), failing, 3, config), std::runtime_error);
  const SampleFieldFn misshaped = [](const at::Tensor& p, const at::Tensor& d) {
    return std::make_pair(blob_density(p), blob_color(p, d).narrow(1, 0, 2));
  };
  EXPECT_THROW(render_incremental(rays.o, rays.d, grid, march_config(), misshaped, 3), std::logic_error);
  const SampleDensityFn wrong_rows = [](const at::Tensor& p) { return blob_density(p).narrow(0, 0, 1); };
  EXPECT_THROW(march_weights_incremental(rays.o, rays.d, grid, march_config(), wrong_rows, 0.0f), std::logic_error);
}

TEST(IncrementalRenderer, RejectsBadConfigs) {
  const OccupancyGrid grid = blob_grid();
  const Rays rays = random_rays(4, 6);
  auto run = [&](IncrementalConfig c) { render_incremental(rays.o, rays.d, grid, march_config(), blob_field(), 3, c); };
  IncrementalConfig c;
  c.round_samples = 0;
  EXPECT_THROW(run(c), UsageError);
  c = {};
  c.max_steps = 0;
  EXPECT_THROW(run(c), UsageError);
  c = {};
  c.transmittance_min = 1.5;
  EXPECT_THROW(run(c), UsageError);
  c = {};
  c.field_batch = 0;
  EXPECT_THROW(run(c), UsageError);
  c = {};
  c.max_rays = 0;
  EXPECT_THROW(run(c), UsageError);
  MarchConfig bad = march_config();
  bad.min_step = 0.0f;
  EXPECT_THROW(render_incremental(rays.o, rays.d, grid, bad, blob_field(), 3), UsageError);
}

}  // namespace
}  // namespace semfield
