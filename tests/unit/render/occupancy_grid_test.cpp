// Tests for the occupancy grid: coverage of a known density, threshold rules, EMA, sampling, levels,
// contraction.
#include "semfield/render/occupancy_grid.h"

#include <cmath>
#include <set>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/core/error.h"
#include "semfield/render/contraction.h"

using semfield::DensityFn;
using semfield::OccupancyGrid;
using semfield::OccupancyGridConfig;
using semfield::OccupancyLevels;

namespace {

const Eigen::Vector3f kGridMin(-1, -1, -1), kGridMax(1, 1, 1);

OccupancyGridConfig small_config(int res, int warmup = 1000) {
  OccupancyGridConfig c;
  c.resolution = res;
  c.warmup_steps = warmup;
  return c;
}

/// Centre of cell (i, j, k) of a grid over [-1,1]^3 (grid space).
Eigen::Vector3f cell_centre(int res, int64_t cell) {
  const int64_t idx[3] = {cell / (int64_t(res) * res), (cell / res) % res, cell % res};
  Eigen::Vector3f p;
  for (int a = 0; a < 3; ++a)
    p[a] = -1.0f + (static_cast<float>(idx[a]) + 0.5f) * 2.0f / static_cast<float>(res);
  return p;
}

DensityFn constant_density(float value) {
  return [value](const at::Tensor& p) { return torch::full({p.size(0)}, value); };
}

// Density `inside` for positions with x < 0 and `outside` elsewhere: aligned with cell faces for even res.
DensityFn half_density(float inside, float outside) {
  return [=](const at::Tensor& p) {
    return torch::where(p.select(1, 0) < 0, torch::full({p.size(0)}, inside),
                        torch::full({p.size(0)}, outside));
  };
}

double fraction_with_negative_x(const OccupancyGrid& grid) {
  const int res = grid.resolution();
  const uint8_t* bits = grid.bitfield().data_ptr<uint8_t>();
  int64_t n = 0;
  for (int64_t c = 0; c < int64_t(res) * res * res; ++c) n += bits[c] && cell_centre(res, c).x() < 0;
  return double(n) / double(int64_t(res) * res * res);
}

TEST(OccupancyGrid, StartsEmptyAndFillMarksEverything) {
  OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
  EXPECT_EQ(grid.occupancy_fraction(), 0.0);
  const float inside[3] = {0.3f, -0.2f, 0.9f};
  EXPECT_FALSE(grid.occupied_at(inside));
  grid.fill();
  EXPECT_EQ(grid.occupancy_fraction(), 1.0);
  EXPECT_TRUE(grid.occupied_at(inside));
  const float outside[3] = {1.2f, 0.0f, 0.0f};
  const float nan_point[3] = {NAN, 0.0f, 0.0f};
  EXPECT_FALSE(grid.occupied_at(outside));
  EXPECT_FALSE(grid.occupied_at(nan_point));
  EXPECT_EQ(grid.bitfield().numel(), 512);
  EXPECT_EQ(grid.density().numel(), 512);
}

TEST(OccupancyGrid, RejectsBadConfig) {
  OccupancyGridConfig bad = small_config(0);
  EXPECT_THROW(OccupancyGrid(kGridMin, kGridMax, false, bad), semfield::UsageError);
  bad = small_config(8);
  bad.decay = 1.5;
  EXPECT_THROW(OccupancyGrid(kGridMin, kGridMax, false, bad), semfield::UsageError);
  bad = small_config(8);
  bad.batch_points = 0;
  EXPECT_THROW(OccupancyGrid(kGridMin, kGridMax, false, bad), semfield::UsageError);
  EXPECT_THROW(OccupancyGrid(kGridMax, kGridMin, false, small_config(8)), semfield::UsageError);
  // A contracted grid ignores the box.
  EXPECT_NO_THROW(OccupancyGrid(kGridMax, kGridMin, true, small_config(8)));
}

TEST(OccupancyGrid, WarmupCoversASphereAndLittleElse) {
  const Eigen::Vector3f centre(0.2f, -0.1f, 0.1f);
  const float radius = 0.4f;
  const DensityFn sphere = [&](const at::Tensor& p) {
    const at::Tensor c = torch::tensor({centre.x(), centre.y(), centre.z()});
    return torch::where((p - c).norm(2, 1) < radius, torch::full({p.size(0)}, 50.0f),
                        torch::zeros({p.size(0)}));
  };
  const int res = 32;
  OccupancyGrid grid(kGridMin, kGridMax, false, small_config(res));
  for (int step = 0; step < 8; ++step) grid.update(sphere, step, 0.01);

  const float half_diag = std::sqrt(3.0f) * 1.0f / res;  // half the diagonal of a cell of side 2/res
  const uint8_t* bits = grid.bitfield().data_ptr<uint8_t>();
  int64_t inside = 0, inside_occupied = 0, outside_occupied = 0, boundary = 0;
  for (int64_t c = 0; c < int64_t(res) * res * res; ++c) {
    const float dist = (cell_centre(res, c) - centre).norm();
    if (dist < radius - half_diag) {
      ++inside;
      inside_occupied += bits[c];
    } else if (dist > radius + half_diag) {
      outside_occupied += bits[c];
    } else {
      ++boundary;
    }
  }
  EXPECT_GT(inside, 500);
  EXPECT_EQ(inside_occupied, inside);  // every cell fully inside the sphere
  EXPECT_EQ(outside_occupied, 0);      // no cell fully outside
  const double sphere_fraction = 4.0 / 3.0 * M_PI * std::pow(radius, 3) / 8.0;
  EXPECT_NEAR(grid.occupancy_fraction(), sphere_fraction, double(boundary) / (res * res * res));
  const float at_centre[3] = {centre.x(), centre.y(), centre.z()};
  const float far_away[3] = {-0.9f, 0.9f, -0.9f};
  EXPECT_TRUE(grid.occupied_at(at_centre));
  EXPECT_FALSE(grid.occupied_at(far_away));
}

TEST(OccupancyGrid, ThresholdScalesWithTheStepAndFallsBackToTheMean) {
  // threshold 0.01: density threshold 0.01 / min_step, unless the mean density is lower.
  {
    OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
    grid.update(half_density(10.0f, 3.0f), 0, 0.01);  // 1 < mean 6.5: both halves occupied
    EXPECT_EQ(grid.occupancy_fraction(), 1.0);
  }
  {
    OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
    grid.update(half_density(10.0f, 3.0f), 0, 0.002);  // min(5, 6.5) = 5: only the dense half
    EXPECT_EQ(grid.occupancy_fraction(), 0.5);
    EXPECT_EQ(fraction_with_negative_x(grid), 0.5);
  }
  {
    // Nearly transparent field: 0.5 is below 0.01 / 0.01 = 1, but above the mean 0.25.
    OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
    grid.update(half_density(0.5f, 0.0f), 0, 0.01);
    EXPECT_EQ(grid.occupancy_fraction(), 0.5);
    EXPECT_EQ(fraction_with_negative_x(grid), 0.5);
  }
  {
    // The strict ">": a uniform field equal to its own mean occupies nothing.
    OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
    grid.update(constant_density(0.5f), 0, 0.01);
    EXPECT_EQ(grid.occupancy_fraction(), 0.0);
  }
}

TEST(OccupancyGrid, EmaDecaysAndTakesTheMaximum) {
  OccupancyGridConfig config = small_config(8);
  config.decay = 0.5;
  OccupancyGrid grid(kGridMin, kGridMax, false, config);
  grid.update(constant_density(10.0f), 0, 0.01);
  EXPECT_EQ(grid.density()[0].item<float>(), 10.0f);
  EXPECT_EQ(grid.occupancy_fraction(), 1.0);
  // 10 -> 5 -> 2.5 -> 1.25 stay above the threshold (1); 0.625 falls below it (and equals the mean).
  const float expected[4] = {5.0f, 2.5f, 1.25f, 0.625f};
  for (int step = 1; step <= 4; ++step) {
    grid.update(constant_density(0.0f), step, 0.01);
    EXPECT_TRUE(torch::all(grid.density() == expected[step - 1]).item<bool>()) << "step " << step;
    EXPECT_EQ(grid.occupancy_fraction(), step < 4 ? 1.0 : 0.0) << "step " << step;
  }
  // A larger new value replaces the decayed one at once.
  grid.update(constant_density(7.0f), 5, 0.01);
  EXPECT_TRUE(torch::all(grid.density() == 7.0f).item<bool>());
  // Non-finite and negative densities are sanitised rather than poisoning the grid.
  grid.update([](const at::Tensor& p) { return torch::full({p.size(0)}, NAN); }, 6, 0.01);
  EXPECT_TRUE(torch::all(grid.density() == 3.5f).item<bool>());
  grid.update(constant_density(-4.0f), 7, 0.01);
  EXPECT_TRUE(torch::all(grid.density() == 1.75f).item<bool>());
}

TEST(OccupancyGrid, AfterWarmupSamplesAQuarterPlusAQuarterOfOccupied) {
  const int res = 32;
  const int64_t n = int64_t(res) * res * res;
  OccupancyGrid grid(kGridMin, kGridMax, false, small_config(res, /*warmup=*/1));
  int64_t points = 0;
  const DensityFn counting = [&](const at::Tensor& p) {
    points += p.size(0);
    return torch::zeros({p.size(0)});
  };
  grid.update(constant_density(10.0f), 0, 0.01);  // warmup: everything, all occupied
  grid.update(counting, 1, 0.01);
  EXPECT_EQ(points, n / 2);
  // Cells sampled (decayed to 9.5) vs untouched (10): two draws of n/4 with replacement cover
  // 1 - exp(-1/2) ~ 39 % of the cells.
  const double sampled = (grid.density() < 10.0f).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(sampled, 1.0 - std::exp(-0.5), 0.02);
  EXPECT_TRUE(torch::all((grid.density() == 10.0f) | (grid.density() == 9.5f)).item<bool>());

  // With a small occupied region, the occupied quarter concentrates there.
  OccupancyGrid sparse(kGridMin, kGridMax, false, small_config(res, 1));
  sparse.update(half_density(10.0f, 0.0f), 0, 0.01);
  int64_t in_dense_half = 0, total = 0;
  const DensityFn where = [&](const at::Tensor& p) {
    in_dense_half += (p.select(1, 0) < 0).sum().item<int64_t>();
    total += p.size(0);
    return torch::where(p.select(1, 0) < 0, torch::full({p.size(0)}, 10.0f), torch::zeros({p.size(0)}));
  };
  sparse.update(where, 1, 0.01);
  EXPECT_EQ(total, n / 2);
  EXPECT_NEAR(double(in_dense_half) / double(total), 0.75, 0.01);  // half of the uniform + all occupied
}

TEST(OccupancyGrid, JitteredPointsStayInTheirCellsAndBatchesAreBounded) {
  const int res = 8;
  OccupancyGridConfig config = small_config(res);
  config.batch_points = 100;
  const Eigen::Vector3f lo(-2, 0, 1), hi(2, 1, 3);
  OccupancyGrid grid(lo, hi, false, config);
  int64_t calls = 0, largest = 0;
  std::set<int64_t> cells;
  std::set<float> distinct_x;
  const DensityFn probe = [&](const at::Tensor& p) {
    ++calls;
    largest = std::max(largest, p.size(0));
    for (int64_t s = 0; s < p.size(0); ++s) {
      int64_t idx[3];
      for (int a = 0; a < 3; ++a) {
        const float g = (p[s][a].item<float>() - lo[a]) / (hi[a] - lo[a]) * res;
        EXPECT_GE(g, 0.0f);
        EXPECT_LT(g, float(res));
        idx[a] = int64_t(g);
      }
      cells.insert((idx[0] * res + idx[1]) * res + idx[2]);
      distinct_x.insert(p[s][0].item<float>());
    }
    return torch::zeros({p.size(0)});
  };
  grid.update(probe, 0, 0.01);
  EXPECT_EQ(calls, (512 + 99) / 100);
  EXPECT_EQ(largest, 100);
  EXPECT_EQ(cells.size(), 512u);       // warmup visits every cell exactly once
  EXPECT_GT(distinct_x.size(), 500u);  // jittered, not cell centres
}

TEST(OccupancyGrid, UpdatesAreDeterministicInSeedAndStep) {
  const int res = 16;
  auto run = [&](uint64_t seed, int64_t step) {
    OccupancyGridConfig config = small_config(res, 0);
    config.seed = seed;
    OccupancyGrid grid(kGridMin, kGridMax, false, config);
    grid.fill();
    grid.update([](const at::Tensor& p) { return p.select(1, 0) + 2.0f; }, step, 0.01);
    return grid.density().clone();
  };
  EXPECT_TRUE(torch::equal(run(3, 10), run(3, 10)));
  EXPECT_FALSE(torch::equal(run(3, 10), run(3, 11)));
  EXPECT_FALSE(torch::equal(run(3, 10), run(4, 10)));
}

TEST(OccupancyGrid, ContractedGridSeesFarAwayDensity) {
  // Density only in the shell 3 <= |x|_inf <= 6, i.e. contracted norms in [5/3, 11/6].
  const DensityFn shell = [](const at::Tensor& p) {
    const at::Tensor n = std::get<0>(p.abs().max(1));
    return torch::where((n >= 3) & (n <= 6), torch::full({p.size(0)}, 100.0f), torch::zeros({p.size(0)}));
  };
  float largest_norm = 0.0f;
  const DensityFn probe = [&](const at::Tensor& p) {
    largest_norm = std::max(largest_norm, p.abs().max().item<float>());
    return shell(p);
  };
  OccupancyGrid grid(kGridMin, kGridMax, true, small_config(48));
  EXPECT_EQ(grid.grid_min(), Eigen::Vector3f::Constant(-2));
  for (int step = 0; step < 4; ++step) grid.update(step == 0 ? probe : shell, step, 0.01);
  EXPECT_GT(largest_norm, 100.0f);  // uncontracted positions reach far out
  const float points_in[3][3] = {{4.0f, 0.0f, 0.0f}, {0.5f, -4.5f, 1.0f}, {-3.5f, -3.5f, 5.0f}};
  const float points_out[3][3] = {{0.0f, 0.0f, 0.0f}, {1.5f, 0.2f, 0.0f}, {50.0f, 0.0f, 0.0f}};
  for (const auto& p : points_in) EXPECT_TRUE(grid.occupied_at(p)) << p[0] << " " << p[1] << " " << p[2];
  for (const auto& p : points_out) EXPECT_FALSE(grid.occupied_at(p)) << p[0] << " " << p[1] << " " << p[2];
}

TEST(OccupancyGrid, LevelsAreTheOrOfCoveredCells) {
  for (const int res : {5, 8}) {
    torch::manual_seed(res);
    const at::Tensor bits = (torch::rand({res * res * res}) < 0.02).to(torch::kUInt8);
    const OccupancyLevels levels = OccupancyLevels::build(bits.data_ptr<uint8_t>(), res);
    ASSERT_EQ(levels.resolution.back(), 1);
    const uint8_t* b = bits.data_ptr<uint8_t>();
    for (int l = 0; l < levels.n_levels(); ++l) {
      const int r = levels.resolution[l];
      EXPECT_EQ(r, (res + (1 << l) - 1) >> l);
      for (int i = 0; i < r; ++i)
        for (int j = 0; j < r; ++j)
          for (int k = 0; k < r; ++k) {
            uint8_t any = 0;
            for (int fi = i << l; fi < std::min((i + 1) << l, res); ++fi)
              for (int fj = j << l; fj < std::min((j + 1) << l, res); ++fj)
                for (int fk = k << l; fk < std::min((k + 1) << l, res); ++fk)
                  any |= b[(fi * res + fj) * res + fk];
            ASSERT_EQ(levels.occupied(l, (int64_t(i) * r + j) * r + k), any != 0) << "level " << l;
          }
    }
  }
}

TEST(OccupancyGrid, WritingTheBitfieldMarksLevelsStale) {
  OccupancyGrid grid(kGridMin, kGridMax, false, small_config(8));
  ASSERT_NE(grid.levels(), nullptr);
  grid.bitfield()[7] = 1;
  EXPECT_EQ(grid.levels(), nullptr);
  grid.refresh_levels();
  ASSERT_NE(grid.levels(), nullptr);
  EXPECT_TRUE(grid.levels()->occupied(0, 7));
  EXPECT_TRUE(grid.levels()->occupied(grid.levels()->n_levels() - 1, 0));
}

TEST(OccupancyGrid, LevelsKnowTheOccupiedBoundingBox) {
  const int res = 10;
  std::vector<uint8_t> bits(res * res * res, 0);
  const OccupancyLevels empty = OccupancyLevels::build(bits.data(), res);
  EXPECT_FALSE(empty.any_occupied());
  bits[(2 * res + 7) * res + 4] = 1;  // cell (2, 7, 4)
  bits[(5 * res + 3) * res + 9] = 1;  // cell (5, 3, 9)
  const OccupancyLevels two = OccupancyLevels::build(bits.data(), res);
  ASSERT_TRUE(two.any_occupied());
  const int lo[3] = {2, 3, 4}, hi[3] = {6, 8, 10};
  for (int a = 0; a < 3; ++a) {
    EXPECT_EQ(two.occupied_min[a], lo[a]);
    EXPECT_EQ(two.occupied_max[a], hi[a]);
  }
}

}  // namespace
