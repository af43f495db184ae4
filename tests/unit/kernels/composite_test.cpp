// Tests of the compositing kernels: forward and gradients against the LibTorch reference (C = 1..256, empty
// rays, early termination, undefined upstream gradients, strided inputs), finite differences, misuse errors.
#include "semfield/kernels/composite.h"

#include <cmath>
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

struct Packed {
  at::Tensor sigmas, values, dts, ts, offsets;
};

/// Rays with the given sample counts; sigma uniform in [0, sigma_max), dt in [0.01, 0.06), t increasing.
Packed make_rays(const std::vector<int64_t>& counts, int64_t C, double sigma_max, uint64_t seed,
                 at::ScalarType dtype = at::kFloat) {
  at::manual_seed(seed);
  std::vector<int64_t> offsets = {0};
  for (int64_t c : counts) offsets.push_back(offsets.back() + c);
  const int64_t S = offsets.back();
  Packed p;
  p.sigmas = (at::rand({S}, at::kDouble) * sigma_max).to(dtype);
  p.values = at::randn({S, C}, at::kDouble).to(dtype);
  p.dts = (0.01 + 0.05 * at::rand({S}, at::kDouble)).to(dtype);
  p.ts = (at::cumsum(p.dts.to(at::kDouble), 0) + 0.5).to(dtype);
  p.offsets = at::tensor(offsets, at::kLong);
  return p;
}

const std::vector<int64_t> kCompositeCounts = {0, 1, 5, 64, 0, 33, 128, 2};

struct RefResult {
  CompositeOutputs out;
  at::Tensor dsigmas, dvalues;
};

/// Reference outputs and autograd gradients of L = <values, gv> + <opacity, go> + <depth, gd> + <weights, gw>
/// (an undefined upstream term is left out). `keep` (optional, 0/1 per sample) multiplies sigma, as a constant.
RefResult reference(const Packed& p, const at::Tensor& gv, const at::Tensor& go, const at::Tensor& gd,
                    const at::Tensor& keep = at::Tensor(), const at::Tensor& gw = at::Tensor()) {
  const at::Tensor s = p.sigmas.detach().clone().requires_grad_(true);
  const at::Tensor v = p.values.detach().clone().requires_grad_(true);
  RefResult r;
  r.out = composite_reference(keep.defined() ? s * keep : s, v, p.dts, p.ts, p.offsets);
  at::Tensor loss = at::zeros({}, p.sigmas.options());
  if (gv.defined()) loss = loss + (r.out.values * gv).sum();
  if (go.defined()) loss = loss + (r.out.opacity * go).sum();
  if (gd.defined()) loss = loss + (r.out.depth * gd).sum();
  if (gw.defined()) loss = loss + (r.out.weights * gw).sum();
  if (loss.requires_grad()) {
    loss.backward();
    r.dsigmas = s.grad().defined() ? s.grad() : at::zeros_like(s);
    r.dvalues = v.grad().defined() ? v.grad() : at::zeros_like(v);
  } else {
    r.dsigmas = at::zeros_like(s);
    r.dvalues = at::zeros_like(v);
  }
  return r;
}

void expect_outputs_close(const CompositeOutputs& got, const CompositeOutputs& want, const std::string& what) {
  expect_close(got.values, want.values, 1e-5, 1e-6, what + " values");
  expect_close(got.opacity, want.opacity, 1e-5, 1e-6, what + " opacity");
  expect_close(got.depth, want.depth, 1e-5, 1e-6, what + " depth");
  expect_close(got.weights, want.weights, 1e-5, 1e-7, what + " weights");
}

TEST(CompositeForward, MatchesReferenceForAllChannelCounts) {
  for (int64_t C : {1, 3, 16, 256}) {
    const Packed p = make_rays(kCompositeCounts, C, 20.0, 1 + C);
    const std::string what = "C=" + std::to_string(C);
    // transmittance_min = 0: no early termination, the reference's rule.
    expect_outputs_close(composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets, 0.0),
                         composite_reference(p.sigmas, p.values, p.dts, p.ts, p.offsets), what);
    // Thin media: transmittance stays above the default threshold, so the default changes nothing.
    const Packed thin = make_rays(kCompositeCounts, C, 0.5, 2 + C);
    expect_outputs_close(composite_forward(thin.sigmas, thin.values, thin.dts, thin.ts, thin.offsets),
                         composite_reference(thin.sigmas, thin.values, thin.dts, thin.ts, thin.offsets),
                         what + " default threshold");
  }
}

TEST(CompositeForward, EmptyRaysAndEmptyBatches) {
  const Packed p = make_rays({0, 0, 3, 0}, 3, 5.0, 3);
  const CompositeOutputs out = composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets);
  for (int r : {0, 1, 3}) {
    EXPECT_EQ(out.values[r].abs().sum().item<float>(), 0.f);
    EXPECT_EQ(out.opacity[r].item<float>(), 0.f);
    EXPECT_EQ(out.depth[r].item<float>(), 0.f);
  }
  const Packed none = make_rays({}, 4, 5.0, 4);
  const CompositeOutputs empty = composite_forward(none.sigmas, none.values, none.dts, none.ts, none.offsets);
  EXPECT_EQ(empty.values.sizes(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(empty.weights.numel(), 0);
  const CompositeGrads g = composite_backward(at::zeros({0, 4}), at::Tensor(), at::Tensor(), none.sigmas,
                                              none.values, none.dts, none.ts, none.offsets, empty);
  EXPECT_EQ(g.dL_dvalues.sizes(), (std::vector<int64_t>{0, 4}));
  const Packed one = make_rays({1}, 5, 5.0, 6);
  expect_outputs_close(composite_forward(one.sigmas, one.values, one.dts, one.ts, one.offsets),
                       composite_reference(one.sigmas, one.values, one.dts, one.ts, one.offsets), "one sample");
  const Packed zero_samples = make_rays({0, 0}, 2, 5.0, 5);
  const CompositeOutputs z = composite(zero_samples.sigmas, zero_samples.values.requires_grad_(true),
                                       zero_samples.dts, zero_samples.ts, zero_samples.offsets);
  EXPECT_TRUE(at::equal(z.values, at::zeros({2, 2})));
}

TEST(CompositeBackward, MatchesReferenceAutograd) {
  for (int64_t C : {1, 3, 16, 256}) {
    const Packed p = make_rays(kCompositeCounts, C, 20.0, 10 + C);
    const int64_t R = int64_t(kCompositeCounts.size());
    const at::Tensor gv = at::randn({R, C}), go = at::randn({R}), gd = at::randn({R});
    const RefResult want = reference(p, gv, go, gd);
    const CompositeOutputs fwd = composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets, 0.0);
    const CompositeGrads got = composite_backward(gv, go, gd, p.sigmas, p.values, p.dts, p.ts, p.offsets, fwd, 0.0);
    const std::string what = "C=" + std::to_string(C);
    expect_close(got.dL_dsigmas, want.dsigmas, 1e-4, 1e-6, what + " dsigmas");
    expect_close(got.dL_dvalues, want.dvalues, 1e-5, 1e-7, what + " dvalues");
  }
}

TEST(CompositeBackward, AutogradWrapperWithPartiallyUndefinedUpstream) {
  const int64_t C = 16, R = int64_t(kCompositeCounts.size());
  const Packed p = make_rays(kCompositeCounts, C, 10.0, 20);
  const at::Tensor gv = at::randn({R, C}), go = at::randn({R}), gd = at::randn({R}), gw = at::randn({p.sigmas.size(0)});
  const at::Tensor none;
  // Each subset of the four outputs used in the loss; the unused ones reach backward undefined.
  for (int used = 1; used < 16; ++used) {
    const at::Tensor s = p.sigmas.clone().requires_grad_(true), v = p.values.clone().requires_grad_(true);
    const CompositeOutputs out = composite(s, v, p.dts, p.ts, p.offsets, 0.0);
    EXPECT_TRUE(out.weights.requires_grad());
    at::Tensor loss = at::zeros({});
    if (used & 1) loss = loss + (out.values * gv).sum();
    if (used & 2) loss = loss + (out.opacity * go).sum();
    if (used & 4) loss = loss + (out.depth * gd).sum();
    if (used & 8) loss = loss + (out.weights * gw).sum();
    loss.backward();
    const RefResult want = reference(p, used & 1 ? gv : none, used & 2 ? go : none, used & 4 ? gd : none,
                                     at::Tensor(), used & 8 ? gw : none);
    const std::string what = "outputs used mask " + std::to_string(used);
    expect_outputs_close(out, want.out, what);
    expect_close(s.grad(), want.dsigmas, 1e-4, 1e-6, what + " dsigmas");
    expect_close(v.grad(), want.dvalues, 1e-5, 1e-7, what + " dvalues");
  }
  const CompositeGrads zero = composite_backward(none, none, none, p.sigmas, p.values, p.dts, p.ts, p.offsets,
                                                 CompositeOutputs{});
  EXPECT_TRUE(at::equal(zero.dL_dsigmas, at::zeros_like(p.sigmas)));
  EXPECT_TRUE(at::equal(zero.dL_dvalues, at::zeros_like(p.values)));
}

TEST(CompositeBackward, EarlyTerminationDropsLateSamplesInForwardAndBackward) {
  const double t_min = 1e-2;
  for (int64_t C : {1, 3, 256}) {
    const Packed p = make_rays(kCompositeCounts, C, 200.0, 30 + C);
    // Which samples start with transmittance below t_min, in float64; the data must not sit on the edge.
    at::Tensor keep = at::ones_like(p.sigmas);
    const auto off = p.offsets.accessor<int64_t, 1>();
    int64_t dropped = 0;
    for (int64_t r = 0; r + 1 < p.offsets.size(0); ++r) {
      double optical_depth = 0;
      for (int64_t i = off[r]; i < off[r + 1]; ++i) {
        const double T = std::exp(-optical_depth);
        ASSERT_GT(std::abs(std::log(T / t_min)), 1e-3) << "test data too close to the threshold";
        if (T < t_min) {
          keep[i] = 0.f;
          ++dropped;
        }
        optical_depth += double(p.sigmas[i].item<float>()) * double(p.dts[i].item<float>());
      }
    }
    ASSERT_GT(dropped, 50);
    const int64_t R = int64_t(kCompositeCounts.size());
    const at::Tensor gv = at::randn({R, C}), go = at::randn({R}), gd = at::randn({R});
    // Reference with the dropped samples' sigma multiplied by a constant 0: alpha = w = 0 there, and the
    // chain rule gives them zero sigma gradients, which is the kernel's rule.
    const RefResult want = reference(p, gv, go, gd, keep);
    const CompositeOutputs fwd = composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets, t_min);
    const std::string what = "C=" + std::to_string(C);
    expect_outputs_close(fwd, want.out, what + " early termination");
    EXPECT_TRUE(at::equal(fwd.weights * (1 - keep), at::zeros_like(fwd.weights)));
    const CompositeGrads got =
        composite_backward(gv, go, gd, p.sigmas, p.values, p.dts, p.ts, p.offsets, fwd, t_min);
    expect_close(got.dL_dsigmas, want.dsigmas, 1e-4, 1e-6, what + " dsigmas");
    expect_close(got.dL_dvalues, want.dvalues, 1e-5, 1e-7, what + " dvalues");
    EXPECT_TRUE(at::equal(got.dL_dsigmas * (1 - keep), at::zeros_like(p.sigmas)));
  }
}

TEST(CompositeReference, GradientMatchesFiniteDifferencesInDouble) {
  const Packed p = make_rays({4, 0, 7}, 3, 20.0, 40, at::kDouble);
  const at::Tensor gv = at::randn({3, 3}, at::kDouble), go = at::randn({3}, at::kDouble),
                   gd = at::randn({3}, at::kDouble);
  const RefResult want = reference(p, gv, go, gd);
  auto loss = [&](const at::Tensor& s, const at::Tensor& v) {
    const CompositeOutputs o = composite_reference(s, v, p.dts, p.ts, p.offsets);
    return ((o.values * gv).sum() + (o.opacity * go).sum() + (o.depth * gd).sum()).item<double>();
  };
  const double h = 1e-6;
  for (int64_t i = 0; i < p.sigmas.size(0); ++i) {
    const at::Tensor sp = p.sigmas.clone(), sm = p.sigmas.clone();
    sp[i] += h;
    sm[i] -= h;
    EXPECT_NEAR(want.dsigmas[i].item<double>(), (loss(sp, p.values) - loss(sm, p.values)) / (2 * h), 1e-7)
        << "sigma " << i;
    for (int64_t c = 0; c < 3; ++c) {
      const at::Tensor vp = p.values.clone(), vm = p.values.clone();
      vp[i][c] += h;
      vm[i][c] -= h;
      EXPECT_NEAR(want.dvalues[i][c].item<double>(), (loss(p.sigmas, vp) - loss(p.sigmas, vm)) / (2 * h), 1e-7)
          << "value " << i << "," << c;
    }
  }
}

TEST(Composite, StridedInputsAndThreadCountGiveIdenticalResults) {
  const int64_t C = 16, R = int64_t(kCompositeCounts.size());
  const Packed p = make_rays(kCompositeCounts, C, 20.0, 50);
  const at::Tensor gv = at::randn({R, C}), go = at::randn({R}), gd = at::randn({R});
  const CompositeOutputs f = composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets);
  const CompositeGrads g = composite_backward(gv, go, gd, p.sigmas, p.values, p.dts, p.ts, p.offsets, f);

  const at::Tensor values_strided = p.values.t().contiguous().t();
  const at::Tensor sigmas_strided = at::stack({p.sigmas, p.sigmas}, 1).select(1, 1);
  const at::Tensor gv_strided = gv.t().contiguous().t();
  ASSERT_FALSE(values_strided.is_contiguous());
  ASSERT_FALSE(sigmas_strided.is_contiguous());
  const CompositeOutputs fs = composite_forward(sigmas_strided, values_strided, p.dts, p.ts, p.offsets);
  const CompositeGrads gs =
      composite_backward(gv_strided, go, gd, sigmas_strided, values_strided, p.dts, p.ts, p.offsets, fs);
  EXPECT_TRUE(at::equal(fs.values, f.values));
  EXPECT_TRUE(at::equal(fs.weights, f.weights));
  EXPECT_TRUE(at::equal(gs.dL_dsigmas, g.dL_dsigmas));
  EXPECT_TRUE(at::equal(gs.dL_dvalues, g.dL_dvalues));

  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const CompositeOutputs f1 = composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets);
  const CompositeGrads g1 = composite_backward(gv, go, gd, p.sigmas, p.values, p.dts, p.ts, p.offsets, f1);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(f1.values, f.values));
  EXPECT_TRUE(at::equal(g1.dL_dsigmas, g.dL_dsigmas));
}

TEST(CompositeErrors, MisuseGivesClearMessages) {
  const Packed p = make_rays({2, 3}, 3, 1.0, 60);
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values, p.dts, p.ts, at::tensor({0, 2, 4}, at::kLong)); }),
              HasSubstr("ray_offsets[R] (R = 2) must equal the number of samples S = 5, got 4"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values, p.dts, p.ts, at::tensor({1, 2, 5}, at::kLong)); }),
              HasSubstr("ray_offsets[0] must be 0, got 1"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values, p.dts, p.ts, at::tensor({0, 4, 3, 5}, at::kLong)); }),
              HasSubstr("ray_offsets must be non-decreasing"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values, p.dts, p.ts, p.offsets.to(at::kInt)); }),
              HasSubstr("ray_offsets must be Long, got Int"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values.to(at::kMeta), p.dts, p.ts, p.offsets); }),
              HasSubstr("values is on device meta, but semfield has no kernel for that device"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas.to(at::kDouble), p.values, p.dts, p.ts, p.offsets); }),
              HasSubstr("composite_forward: sigmas must be Float, got Double"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values.slice(0, 0, 4), p.dts, p.ts, p.offsets); }),
              HasSubstr("values has shape [4, 3], but dimension 0 must be 5"));
  EXPECT_THAT(error_of([&] { composite_forward(p.sigmas, p.values.view({-1}), p.dts, p.ts, p.offsets); }),
              HasSubstr("values must have 2 dimension(s)"));
  EXPECT_THAT(error_of([&] {
                composite_backward(at::Tensor(), at::zeros({3}), at::Tensor(), p.sigmas, p.values, p.dts, p.ts,
                                   p.offsets, CompositeOutputs{});
              }),
              HasSubstr("composite_backward: dL_dopacity has shape [3], but dimension 0 must be 2"));
  EXPECT_THAT(error_of([&] {
                composite_backward(at::zeros({2, 4}), at::Tensor(), at::Tensor(), p.sigmas, p.values, p.dts, p.ts,
                                   p.offsets, CompositeOutputs{});
              }),
              HasSubstr("dL_dvalues has shape [2, 4], but dimension 1 must be 3"));
}

}  // namespace
}  // namespace semfield::kernels
