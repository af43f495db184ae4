// Tests of the lazy sparse Adam step: equal to torch::optim::Adam when every entry is touched, equal to a
// per-entry float64 reference under random touched sets, untouched state bit-identical, misuse errors.
#include "semfield/kernels/sparse_adam.h"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include "kernel_test_util.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;
using test::error_of;
using test::expect_close;

struct State {
  at::Tensor params, grad, exp_avg, exp_avg_sq, steps, touched;
  State(int64_t entries, int F, uint64_t seed) {
    at::manual_seed(seed);
    params = at::randn({entries * F});
    grad = at::zeros({entries * F});
    exp_avg = at::zeros({entries * F});
    exp_avg_sq = at::zeros({entries * F});
    steps = at::zeros({entries}, at::kInt);
    touched = at::zeros({entries}, at::kByte);
  }
  State clone() const {
    State s = *this;
    s.params = params.clone();
    s.grad = grad.clone();
    s.exp_avg = exp_avg.clone();
    s.exp_avg_sq = exp_avg_sq.clone();
    s.steps = steps.clone();
    s.touched = touched.clone();
    return s;
  }
  void step(int F, const AdamHyper& h) { sparse_adam_step(params, grad, exp_avg, exp_avg_sq, steps, touched, F, h); }
};

TEST(SparseAdam, EqualsTorchAdamWhenEveryEntryIsTouched) {
  for (double weight_decay : {0.0, 0.1}) {
    const int F = 2;
    const int64_t E = 1003;
    State s(E, F, 1);
    const AdamHyper hyper{1e-2, 0.9, 0.99, 1e-15, weight_decay};
    const at::Tensor p = s.params.clone().requires_grad_(true);
    torch::optim::Adam adam({p}, torch::optim::AdamOptions(hyper.lr)
                                     .betas({hyper.beta1, hyper.beta2})
                                     .eps(hyper.eps)
                                     .weight_decay(hyper.weight_decay));
    for (int k = 0; k < 6; ++k) {
      const at::Tensor g = at::randn({E * F});
      s.grad.copy_(g);
      s.touched.fill_(1);
      s.step(F, hyper);
      p.mutable_grad() = g.clone();
      adam.step();
      expect_close(s.params, p.detach(), 1e-6, 1e-7, "step " + std::to_string(k));
      EXPECT_TRUE(at::equal(s.grad, at::zeros_like(s.grad)));
      EXPECT_TRUE(at::equal(s.touched, at::zeros_like(s.touched)));
      EXPECT_TRUE(at::equal(s.steps, at::full({E}, k + 1, at::kInt)));
    }
  }
}

/// Lazy Adam on one entry, in float64, with torch.optim.Adam's formula.
void reference_entry_step(double* p, double* m, double* v, const float* g, int F, int step, const AdamHyper& h) {
  const double bc1 = 1 - std::pow(h.beta1, step), bc2 = 1 - std::pow(h.beta2, step);
  for (int f = 0; f < F; ++f) {
    const double gf = g[f] + h.weight_decay * p[f];
    m[f] = h.beta1 * m[f] + (1 - h.beta1) * gf;
    v[f] = h.beta2 * v[f] + (1 - h.beta2) * gf * gf;
    p[f] -= h.lr / bc1 * m[f] / (std::sqrt(v[f]) / std::sqrt(bc2) + h.eps);
  }
}

TEST(SparseAdam, MatchesPerEntryReferenceAndLeavesUntouchedEntriesAlone) {
  const AdamHyper hyper{5e-3, 0.9, 0.99, 1e-8, 0.01};
  for (int F : {1, 2, 3, 5, 8}) {
    const int64_t E = 517;  // not a multiple of the 8-entry vector step
    State s(E, F, 10 + F);
    at::Tensor ref_p = s.params.to(at::kDouble), ref_m = at::zeros({E * F}, at::kDouble),
               ref_v = at::zeros({E * F}, at::kDouble);
    at::Tensor ref_steps = at::zeros({E}, at::kInt);
    for (int k = 0; k < 8; ++k) {
      // Dense-ish and sparse steps; untouched entries carry stale gradients that must stay unread.
      s.touched.copy_((at::rand({E}) < (k % 2 ? 0.9 : 0.1)).to(at::kByte));
      s.grad.copy_(at::randn({E * F}));
      const State before = s.clone();
      s.step(F, hyper);
      const uint8_t* t = before.touched.data_ptr<uint8_t>();
      for (int64_t e = 0; e < E; ++e) {
        if (!t[e]) continue;
        const int step = ++ref_steps.data_ptr<int32_t>()[e];
        reference_entry_step(ref_p.data_ptr<double>() + e * F, ref_m.data_ptr<double>() + e * F,
                             ref_v.data_ptr<double>() + e * F, before.grad.data_ptr<float>() + e * F, F, step, hyper);
      }
      const std::string what = "F=" + std::to_string(F) + " step " + std::to_string(k);
      expect_close(s.params, ref_p, 1e-5, 1e-6, what + " params");
      expect_close(s.exp_avg, ref_m, 1e-5, 1e-7, what + " exp_avg");
      expect_close(s.exp_avg_sq, ref_v, 1e-5, 1e-9, what + " exp_avg_sq");
      EXPECT_TRUE(at::equal(s.steps, ref_steps)) << what;
      const at::Tensor untouched_e = before.touched.eq(0);
      const at::Tensor untouched_v = untouched_e.repeat_interleave(F);
      const at::Tensor touched_v = untouched_v.logical_not();
      for (const auto& [got, old] : {std::pair{s.params, before.params}, {s.exp_avg, before.exp_avg},
                                     {s.exp_avg_sq, before.exp_avg_sq}, {s.grad, before.grad}})
        EXPECT_TRUE(at::equal(got.masked_select(untouched_v), old.masked_select(untouched_v))) << what;
      EXPECT_TRUE(at::equal(s.steps.masked_select(untouched_e), before.steps.masked_select(untouched_e)));
      EXPECT_EQ(s.grad.masked_select(touched_v).abs().sum().item<float>(), 0.f) << what;
      EXPECT_EQ(s.touched.sum().item<int64_t>(), 0) << what;
    }
  }
}

TEST(SparseAdam, BiasCorrectionIsRightForEveryStepRange) {
  // Groups of 8 entries (the vector width) whose step counts fall in one range each: the small float
  // tables, the double power tables around their 4096 split, saturation, past the 2^24 table range, and
  // mixed groups. beta2 = 0.9999 saturates only after ~277k steps, 0.99 after ~2.8k.
  const std::vector<std::vector<int32_t>> groups = {
      {0, 1, 2, 3, 4, 5, 6, 7},
      {4090, 4091, 4092, 4093, 4094, 4095, 4096, 4097},
      {16380, 16381, 16382, 16383, 16384, 16385, 16386, 16387},
      {100000, 100001, 100002, 100003, 100004, 100005, 100006, 100007},
      {300000, 300001, 300002, 300003, 300004, 300005, 300006, 300007},
      {(1 << 24) - 4, (1 << 24) - 3, (1 << 24) - 2, (1 << 24) - 1, 1 << 24, (1 << 24) + 1, 1 << 28, 1 << 30},
      {0, 4095, 16383, 100000, 300000, (1 << 24) - 1, 1 << 24, 7},
  };
  for (const AdamHyper hyper : {AdamHyper{1e-2, 0.9, 0.99, 1e-15, 0.0}, AdamHyper{1e-2, 0.9, 0.9999, 1e-15, 0.0}}) {
    const int F = 2;
    const int64_t E = int64_t(8 * groups.size());
    State s(E, F, 3);
    for (size_t q = 0; q < groups.size(); ++q)
      for (int j = 0; j < 8; ++j) s.steps[int64_t(8 * q + j)] = groups[q][size_t(j)];
    s.exp_avg.uniform_(-0.1, 0.1);
    s.exp_avg_sq.uniform_(0.01, 0.02);
    s.grad.normal_();
    s.touched.fill_(1);
    const State before = s.clone();
    s.step(F, hyper);
    at::Tensor want = before.params.to(at::kDouble);
    at::Tensor m = before.exp_avg.to(at::kDouble), v = before.exp_avg_sq.to(at::kDouble);
    for (int64_t e = 0; e < E; ++e)
      reference_entry_step(want.data_ptr<double>() + e * F, m.data_ptr<double>() + e * F,
                           v.data_ptr<double>() + e * F, before.grad.data_ptr<float>() + e * F, F,
                           before.steps[e].item<int32_t>() + 1, hyper);
    expect_close(s.params, want, 1e-6, 1e-7, "params, beta2 = " + std::to_string(hyper.beta2));
    EXPECT_TRUE(at::equal(s.steps, before.steps + 1));
  }
}

TEST(SparseAdam, EmptyAndSingleEntryTables) {
  State empty(0, 2, 4);
  empty.step(2, AdamHyper{});
  EXPECT_EQ(empty.params.numel(), 0);

  const AdamHyper hyper{1e-2, 0.9, 0.99, 1e-15, 0.0};
  State one(1, 3, 5);
  one.grad.normal_();
  one.touched.fill_(1);
  const State before = one.clone();
  one.step(3, hyper);
  at::Tensor want = before.params.to(at::kDouble);
  at::Tensor m = at::zeros({3}, at::kDouble), v = at::zeros({3}, at::kDouble);
  reference_entry_step(want.data_ptr<double>(), m.data_ptr<double>(), v.data_ptr<double>(),
                       before.grad.data_ptr<float>(), 3, 1, hyper);
  expect_close(one.params, want, 1e-6, 1e-7, "single entry");
}

TEST(SparseAdamErrors, MisuseGivesClearMessages) {
  State s(10, 2, 5);
  const AdamHyper h;
  EXPECT_THAT(error_of([&] { sparse_adam_step(s.params, s.grad, s.exp_avg, s.exp_avg_sq, s.steps, s.touched, 3, h); }),
              HasSubstr("sparse_adam_step: params must have shape [30] (n_entries * n_features), got [20]"));
  at::Tensor steps64 = s.steps.to(at::kLong);
  EXPECT_THAT(error_of([&] { sparse_adam_step(s.params, s.grad, s.exp_avg, s.exp_avg_sq, steps64, s.touched, 2, h); }),
              HasSubstr("entry_steps must be Int, got Long"));
  at::Tensor short_grad = at::zeros({19});
  EXPECT_THAT(
      error_of([&] { sparse_adam_step(s.params, short_grad, s.exp_avg, s.exp_avg_sq, s.steps, s.touched, 2, h); }),
      HasSubstr("grad must have shape [20]"));
  at::Tensor strided = at::zeros({40}).slice(0, 0, 40, 2);
  EXPECT_THAT(error_of([&] { sparse_adam_step(s.params, s.grad, strided, s.exp_avg_sq, s.steps, s.touched, 2, h); }),
              HasSubstr("exp_avg must be contiguous"));
  at::Tensor meta_params = at::empty({20}, at::kMeta);
  EXPECT_THAT(
      error_of([&] { sparse_adam_step(meta_params, s.grad, s.exp_avg, s.exp_avg_sq, s.steps, s.touched, 2, h); }),
      HasSubstr("params is on device meta, but semfield has no kernel for that device"));
  AdamHyper bad;
  bad.beta2 = 1.0;
  EXPECT_THAT(error_of([&] { sparse_adam_step(s.params, s.grad, s.exp_avg, s.exp_avg_sq, s.steps, s.touched, 2, bad); }),
              HasSubstr("beta1 and beta2 must be in [0, 1)"));
  EXPECT_THAT(error_of([&] { sparse_adam_step(s.params, s.grad, s.exp_avg, s.exp_avg_sq, s.steps, s.touched, 0, h); }),
              HasSubstr("n_features must be >= 1"));
}

}  // namespace
}  // namespace semfield::kernels
