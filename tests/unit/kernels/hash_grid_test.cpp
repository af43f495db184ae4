// Tests of the hash-grid kernels: level maths, forward/backward against the LibTorch reference and a naive
// per-point implementation of the header's formulas, touched marking, layouts, threads, and misuse errors.
#include "semfield/kernels/hash_grid.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "kernel_test_util.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;
using test::error_of;
using test::expect_close;

/// 4 levels of resolution 2, 3, 4, 6 over tables of at most 64 entries: levels 0-1 dense (27 -> 32 and
/// 64 -> 64 entries), levels 2-3 hashed (125 and 343 vertices into 64 entries, so collisions happen).
HashGridSpec small_spec(int n_features) {
  HashGridSpec spec;
  spec.n_levels = 4;
  spec.n_features = n_features;
  spec.log2_table_size = 6;
  spec.base_resolution = 2;
  spec.per_level_scale = 1.5;
  return spec;
}

HashGridSpec default_spec() {
  HashGridSpec spec;
  spec.per_level_scale = HashGridSpec::scale_for(16, 2048, 16);
  return spec;
}

/// Random points slightly outside [0,1]^3 (exercising the clamp), then points on cell boundaries of every
/// level, the corners 0 and 1, and the cube's faces.
at::Tensor test_points(int64_t n_random, const HashGridSpec& spec, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<at::Tensor> parts = {at::rand({n_random, 3}) * 1.2 - 0.1};
  std::vector<float> special;
  for (int l = 0; l < spec.n_levels; ++l) {
    const int n = spec.resolution(l);
    for (int k = 0; k <= std::min(n, 7); ++k) {
      const float b = float(k) / float(n);
      special.insert(special.end(), {b, 0.5f, 1.f - b});
    }
  }
  special.insert(special.end(), {0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 0.f, 1.f, 0.5f, 1.f, 0.25f, 0.f});
  parts.push_back(at::tensor(special).view({-1, 3}));
  return at::cat(parts).contiguous();
}

at::Tensor random_params(const HashGridSpec& spec, uint64_t seed) {
  at::manual_seed(seed);
  return at::rand({spec.n_params()}) * 2 - 1;
}

/// The header's formulas for one point, written independently of the kernels (float64 weights).
struct NaiveCorner {
  int64_t entry;
  double weight;
};
std::vector<NaiveCorner> naive_corners(const float* x, const HashGridSpec& spec, int level) {
  const int n = spec.resolution(level);
  const int64_t side = n + 1;
  const int64_t T = spec.level_entries(level);
  const bool dense = side * side * side <= T;
  int64_t cell[3];
  double frac[3];
  for (int a = 0; a < 3; ++a) {
    const float xc = std::min(std::max(x[a], 0.f), 1.f);
    const float p = xc * float(n);
    cell[a] = std::min<int64_t>(int64_t(std::floor(p)), n - 1);
    frac[a] = double(p) - double(cell[a]);
  }
  std::vector<NaiveCorner> out;
  for (int c = 0; c < 8; ++c) {
    const int64_t vx = cell[0] + (c & 1), vy = cell[1] + ((c >> 1) & 1), vz = cell[2] + (c >> 2);
    int64_t idx;
    if (dense) {
      idx = vx + vy * side + vz * side * side;
    } else {
      const uint32_t h = uint32_t(vx) * 1u ^ uint32_t(vy) * 2654435761u ^ uint32_t(vz) * 805459861u;
      idx = int64_t(h % uint64_t(T));
    }
    const double w = ((c & 1) ? frac[0] : 1 - frac[0]) * (((c >> 1) & 1) ? frac[1] : 1 - frac[1]) *
                     ((c >> 2) ? frac[2] : 1 - frac[2]);
    out.push_back({spec.level_offset(level) + idx, w});
  }
  return out;
}

at::Tensor naive_forward(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec) {
  const int F = spec.n_features;
  at::Tensor out = at::zeros({xyz.size(0), spec.n_output_dims()}, at::kDouble);
  const at::Tensor x = xyz.contiguous();
  const float* p = params.data_ptr<float>();
  for (int64_t i = 0; i < x.size(0); ++i)
    for (int l = 0; l < spec.n_levels; ++l)
      for (const NaiveCorner& c : naive_corners(x.data_ptr<float>() + 3 * i, spec, l))
        for (int f = 0; f < F; ++f) out[i][l * F + f] += c.weight * p[c.entry * F + f];
  return out;
}

TEST(HashGridSpec, DefaultSpecLevelsMatchTheHeaderFormulas) {
  const HashGridSpec spec = default_spec();
  EXPECT_NEAR(spec.per_level_scale, 1.3819, 1e-4);
  EXPECT_EQ(spec.resolution(0), 16);
  EXPECT_EQ(spec.resolution(15), 2048);
  int64_t total = 0;
  for (int l = 0; l < spec.n_levels; ++l) {
    const int n = spec.resolution(l);
    EXPECT_EQ(n, int(std::floor(16 * std::pow(spec.per_level_scale, l)))) << "level " << l;
    const int64_t vertices = int64_t(n + 1) * (n + 1) * (n + 1);
    const int64_t want = (std::min<int64_t>(int64_t(1) << 19, vertices) + 7) / 8 * 8;
    EXPECT_EQ(spec.level_entries(l), want) << "level " << l;
    EXPECT_EQ(spec.level_entries(l) % 8, 0);
    EXPECT_EQ(spec.level_offset(l), total);
    total += spec.level_entries(l);
  }
  EXPECT_EQ(spec.level_entries(0), 4920);         // 17^3 = 4913, dense, rounded up to a multiple of 8
  EXPECT_EQ(spec.level_entries(15), 1 << 19);     // hashed
  EXPECT_EQ(spec.n_entries(), total);
  EXPECT_EQ(spec.n_params(), total * 2);
  EXPECT_EQ(spec.n_output_dims(), 32);
}

TEST(HashGridSpec, ScaleForHitsTheFinestResolutionExactly) {
  for (int levels : {2, 8, 12, 16, 24})
    for (int finest : {64, 512, 2048, 4096}) {
      HashGridSpec spec;
      spec.n_levels = levels;
      spec.per_level_scale = HashGridSpec::scale_for(16, finest, levels);
      EXPECT_EQ(spec.resolution(levels - 1), finest) << levels << " levels, finest " << finest;
    }
  EXPECT_EQ(HashGridSpec::scale_for(16, 2048, 1), 1.0);
}

TEST(HashGridSpec, SmallSpecHasDenseAndHashedLevels) {
  const HashGridSpec spec = small_spec(2);
  EXPECT_EQ(spec.resolution(0), 2);
  EXPECT_EQ(spec.resolution(3), 6);
  EXPECT_EQ(spec.level_entries(0), 32);  // 27 vertices, dense
  EXPECT_EQ(spec.level_entries(1), 64);  // 64 vertices, dense
  EXPECT_EQ(spec.level_entries(2), 64);  // 125 vertices, hashed
  EXPECT_EQ(spec.level_entries(3), 64);  // 343 vertices, hashed
  EXPECT_EQ(spec.n_entries(), 224);
}

TEST(HashGridForward, MatchesReferenceAndNaiveFormulas) {
  for (int F : {1, 2, 3, 4}) {
    const HashGridSpec spec = small_spec(F);
    const at::Tensor params = random_params(spec, 7 + F);
    for (int64_t n : {0, 1, 17, 333}) {
      const at::Tensor xyz = n == 0 ? at::zeros({0, 3}) : at::rand({n, 3}) * 1.2 - 0.1;
      const at::Tensor got = hash_grid_forward(xyz, params, spec);
      const std::string what = "F=" + std::to_string(F) + " N=" + std::to_string(n);
      expect_close(got, hash_grid_reference(xyz, params, spec), 1e-6, 1e-6, what + " vs reference");
      expect_close(got, naive_forward(xyz, params, spec), 1e-5, 1e-6, what + " vs naive");
    }
    const at::Tensor xyz = test_points(0, spec, 3);
    const at::Tensor got = hash_grid_forward(xyz, params, spec);
    expect_close(got, hash_grid_reference(xyz, params, spec), 1e-6, 1e-6, "boundary points vs reference");
    expect_close(got, naive_forward(xyz, params, spec), 1e-5, 1e-6, "boundary points vs naive");
  }
}

TEST(HashGridForward, VertexPointsReturnTheVertexEntry) {
  // A point on a vertex of a level interpolates to exactly that vertex's entry (weight 1).
  const HashGridSpec spec = small_spec(2);
  const at::Tensor params = random_params(spec, 11);
  const at::Tensor xyz = at::tensor({0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 0.5f, 0.5f, 0.5f}).view({3, 3});
  const at::Tensor got = hash_grid_forward(xyz, params, spec);
  const float* p = params.data_ptr<float>();
  // Level 0 (N = 2, dense, stride 3): vertex (0,0,0) = entry 0, (2,2,2) = 26, (1,1,1) = 13.
  EXPECT_EQ(got[0][0].item<float>(), p[0]);
  EXPECT_EQ(got[1][0].item<float>(), p[2 * 26]);
  EXPECT_EQ(got[2][1].item<float>(), p[2 * 13 + 1]);
}

TEST(HashGridForward, DefaultSpecMatchesReference) {
  const HashGridSpec spec = default_spec();
  const at::Tensor params = random_params(spec, 5);
  const at::Tensor xyz = test_points(1000, spec, 6);
  const at::Tensor got = hash_grid_forward(xyz, params, spec);
  expect_close(got, hash_grid_reference(xyz, params, spec), 1e-6, 1e-6, "default spec");
  expect_close(got.slice(0, 0, 50), naive_forward(xyz.slice(0, 0, 50), params, spec), 1e-5, 1e-6, "naive");
}

TEST(HashGridForward, HandlesNonContiguousXyz) {
  const HashGridSpec spec = small_spec(2);
  const at::Tensor params = random_params(spec, 1);
  const at::Tensor xyz = test_points(101, spec, 2);
  const at::Tensor want = hash_grid_forward(xyz, params, spec);
  const at::Tensor transposed = xyz.t().contiguous().t();
  ASSERT_FALSE(transposed.is_contiguous());
  EXPECT_TRUE(at::equal(hash_grid_forward(transposed, params, spec), want));
  const at::Tensor wide = at::zeros({xyz.size(0), 7});
  wide.slice(1, 2, 5).copy_(xyz);
  EXPECT_TRUE(at::equal(hash_grid_forward(wide.slice(1, 2, 5), params, spec), want));
  const at::Tensor every_other = at::stack({xyz, xyz}, 1).select(1, 0);
  EXPECT_TRUE(at::equal(hash_grid_forward(every_other, params, spec), want));
}

TEST(HashGridForward, ThreadCountDoesNotChangeResults) {
  const HashGridSpec spec = default_spec();
  const at::Tensor params = random_params(spec, 1);
  const at::Tensor xyz = test_points(20000, spec, 2);
  const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor f1 = hash_grid_forward(xyz, params, spec);
  at::Tensor g1 = at::zeros({spec.n_params()});
  hash_grid_backward(up, xyz, spec, g1);
  at::set_num_threads(std::max(2, threads));
  const at::Tensor f2 = hash_grid_forward(xyz, params, spec);
  at::Tensor g2 = at::zeros({spec.n_params()});
  hash_grid_backward(up, xyz, spec, g2);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(f1, f2));
  EXPECT_TRUE(at::equal(g1, g2));
}

/// Gradient of sum(reference(xyz, params) * upstream) w.r.t. params by LibTorch autograd.
at::Tensor reference_grad(const at::Tensor& xyz, const at::Tensor& params, const HashGridSpec& spec,
                          const at::Tensor& upstream) {
  const at::Tensor p = params.detach().clone().requires_grad_(true);
  (hash_grid_reference(xyz, p, spec) * upstream).sum().backward();
  return p.grad();
}

TEST(HashGridBackward, MatchesReferenceAutogradAndMarksTouchedCorners) {
  for (int F : {1, 2, 3}) {
    const HashGridSpec spec = small_spec(F);
    const at::Tensor params = random_params(spec, 3);
    for (int64_t n : {0, 1, 17, 333}) {
      const at::Tensor xyz = n <= 1 ? at::rand({n, 3}) : test_points(n, spec, 100 + n);
      const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()});
      at::Tensor grad = at::zeros({spec.n_params()});
      at::Tensor touched = at::zeros({spec.n_entries()}, at::kByte);
      hash_grid_backward(up, xyz, spec, grad, touched);
      const std::string what = "F=" + std::to_string(F) + " N=" + std::to_string(xyz.size(0));
      expect_close(grad, reference_grad(xyz, params, spec, up), 1e-5, 1e-5, what);

      std::set<int64_t> corners;
      for (int64_t i = 0; i < xyz.size(0); ++i)
        for (int l = 0; l < spec.n_levels; ++l)
          for (const NaiveCorner& c : naive_corners(xyz.data_ptr<float>() + 3 * i, spec, l)) corners.insert(c.entry);
      for (int64_t e = 0; e < spec.n_entries(); ++e)
        ASSERT_EQ(touched[e].item<uint8_t>(), corners.count(e) ? 1 : 0) << what << " entry " << e;
    }
  }
}

TEST(HashGridBackward, DefaultSpecMatchesReference) {
  const HashGridSpec spec = default_spec();
  const at::Tensor params = random_params(spec, 9);
  const at::Tensor xyz = test_points(3000, spec, 10);
  const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()});
  at::Tensor grad = at::zeros({spec.n_params()});
  at::Tensor touched = at::zeros({spec.n_entries()}, at::kByte);
  hash_grid_backward(up, xyz, spec, grad, touched);
  const at::Tensor want = reference_grad(xyz, params, spec, up);
  expect_close(grad, want, 1e-5, 1e-5, "default spec");
  // Every entry with a nonzero gradient is marked, and only corners of some point are.
  EXPECT_EQ((want.view({-1, 2}).ne(0).any(1) & touched.eq(0)).sum().item<int64_t>(), 0);
  EXPECT_LE(touched.sum().item<int64_t>(), 8 * spec.n_levels * xyz.size(0));
}

TEST(HashGridBackward, AccumulatesAndAcceptsStridedUpstream) {
  const HashGridSpec spec = small_spec(2);
  const at::Tensor params = random_params(spec, 3);
  const at::Tensor xyz = test_points(77, spec, 4);
  const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()});
  const at::Tensor once = reference_grad(xyz, params, spec, up);
  at::Tensor grad = at::ones({spec.n_params()});
  const at::Tensor up_strided = up.t().contiguous().t();
  ASSERT_FALSE(up_strided.is_contiguous());
  hash_grid_backward(up_strided, xyz.t().contiguous().t(), spec, grad);
  hash_grid_backward(up, xyz, spec, grad);
  expect_close(grad, 1 + 2 * once, 1e-5, 1e-5, "1 + two backward passes");
}

TEST(HashGridReference, GradientMatchesFiniteDifferencesInDouble) {
  const HashGridSpec spec = small_spec(2);
  at::manual_seed(21);
  const at::Tensor xyz = test_points(40, spec, 22).to(at::kDouble);
  const at::Tensor params = (at::rand({spec.n_params()}, at::kDouble) * 2 - 1);
  const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()}, at::kDouble);
  const at::Tensor p = params.clone().requires_grad_(true);
  (hash_grid_reference(xyz, p, spec) * up).sum().backward();
  const double h = 1e-6;
  for (int64_t k = 0; k < spec.n_params(); k += 3) {
    const at::Tensor plus = params.clone(), minus = params.clone();
    plus[k] += h;
    minus[k] -= h;
    const double fd = ((hash_grid_reference(xyz, plus, spec) * up).sum().item<double>() -
                       (hash_grid_reference(xyz, minus, spec) * up).sum().item<double>()) /
                      (2 * h);
    EXPECT_NEAR(p.grad()[k].item<double>(), fd, 1e-7 * (1 + std::abs(fd))) << "param " << k;
  }
}

TEST(HashGridEncode, AutogradGivesDenseParamGradientAndNoneForXyz) {
  const HashGridSpec spec = small_spec(2);
  const at::Tensor params = random_params(spec, 31).requires_grad_(true);
  const at::Tensor xyz = test_points(64, spec, 32).requires_grad_(true);
  const at::Tensor up = at::randn({xyz.size(0), spec.n_output_dims()});
  const at::Tensor out = hash_grid_encode(xyz, params, spec);
  expect_close(out, hash_grid_reference(xyz.detach(), params.detach(), spec), 1e-6, 1e-6, "encode forward");
  (out * up).sum().backward();
  expect_close(params.grad(), reference_grad(xyz.detach(), params, spec, up), 1e-5, 1e-5, "encode backward");
  EXPECT_FALSE(xyz.grad().defined());
}

TEST(HashGridErrors, MisuseGivesClearMessages) {
  const HashGridSpec spec = small_spec(2);
  const at::Tensor params = at::zeros({spec.n_params()});
  const at::Tensor xyz = at::rand({5, 3});
  at::Tensor grad = at::zeros({spec.n_params()});
  const at::Tensor up = at::zeros({5, spec.n_output_dims()});
  EXPECT_THAT(error_of([&] { hash_grid_forward(xyz.to(at::kDouble), params, spec); }),
              HasSubstr("hash_grid_forward: xyz must be Float, got Double"));
  EXPECT_THAT(error_of([&] { hash_grid_forward(at::rand({5, 2}), params, spec); }),
              HasSubstr("dimension 1 must be 3"));
  EXPECT_THAT(error_of([&] { hash_grid_forward(at::rand({5}), params, spec); }),
              HasSubstr("xyz must have 2 dimension(s)"));
  EXPECT_THAT(error_of([&] { hash_grid_forward(xyz, at::zeros({7}), spec); }),
              HasSubstr("params must have shape [448]"));
  EXPECT_THAT(error_of([&] { hash_grid_forward(xyz, at::Tensor(), spec); }), HasSubstr("params is an undefined"));
  // Tensors on a device without a kernel (the meta device stands in for CUDA in a CPU-only build).
  EXPECT_THAT(error_of([&] { hash_grid_forward(at::empty({5, 3}, at::kMeta), params, spec); }),
              HasSubstr("hash_grid_forward: xyz is on device meta, but semfield has no kernel for that device"));
  HashGridSpec bad = spec;
  bad.n_levels = 0;
  EXPECT_THAT(error_of([&] { hash_grid_forward(xyz, params, bad); }), HasSubstr("spec.n_levels must be in"));
  bad = spec;
  bad.base_resolution = 0;
  EXPECT_THAT(error_of([&] { hash_grid_forward(xyz, params, bad); }), HasSubstr("spec.base_resolution"));

  EXPECT_THAT(error_of([&] { hash_grid_backward(up.slice(0, 0, 4), xyz, spec, grad); }),
              HasSubstr("dL_dfeatures has shape [4, 8], but dimension 0 must be 5"));
  EXPECT_THAT(error_of([&] { hash_grid_backward(up.slice(1, 0, 6), xyz, spec, grad); }),
              HasSubstr("dimension 1 must be 8"));
  at::Tensor strided_grad = at::zeros({spec.n_params() * 2}).slice(0, 0, spec.n_params() * 2, 2);
  EXPECT_THAT(error_of([&] { hash_grid_backward(up, xyz, spec, strided_grad); }),
              HasSubstr("dL_dparams must be contiguous"));
  EXPECT_THAT(error_of([&] { hash_grid_backward(up, xyz, spec, grad, at::zeros({spec.n_entries()})); }),
              HasSubstr("touched must be Byte, got Float"));
  EXPECT_THAT(error_of([&] { hash_grid_backward(up, xyz, spec, grad, at::zeros({3}, at::kByte)); }),
              HasSubstr("touched must have shape [224]"));
}

}  // namespace
}  // namespace semfield::kernels
