// DenseAdam must match torch::optim::Adam (L2 weight decay) step for step, and resume exactly.
#include "semfield/train/adam.h"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>

using namespace semfield;

namespace {

at::Tensor loss_of(const at::Tensor& w) { return (w * w * w).sum() + w.sin().sum(); }

TEST(DenseAdam, MatchesTorchAdam) {
  torch::manual_seed(3);
  at::Tensor a = torch::randn({5, 4}).requires_grad_(true);
  at::Tensor b = a.detach().clone().requires_grad_(true);
  DenseAdam ours({a});
  torch::optim::Adam theirs({b}, torch::optim::AdamOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(1e-3));
  kernels::AdamHyper h{0.01, 0.9, 0.99, 1e-8, 1e-3};
  for (int i = 0; i < 20; ++i) {
    loss_of(a).backward();
    ours.step(h);
    theirs.zero_grad();
    loss_of(b).backward();
    theirs.step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << (a - b).abs().max();
  EXPECT_EQ(ours.steps(), 20);
  EXPECT_EQ(a.grad().abs().sum().item<float>(), 0.0f);  // gradients are zeroed after a step
}

TEST(DenseAdam, StateRoundTripResumesIdentically) {
  torch::manual_seed(4);
  at::Tensor a = torch::randn({8}).requires_grad_(true);
  at::Tensor b = a.detach().clone().requires_grad_(true);
  DenseAdam first({a});
  kernels::AdamHyper h;
  h.eps = 1e-8;
  for (int i = 0; i < 5; ++i) {
    loss_of(a).backward();
    first.step(h);
  }
  // Copy weights and state into a fresh optimiser, then take the same step on both.
  {
    at::NoGradGuard g;
    b.copy_(a);
  }
  DenseAdam second({b});
  TensorMap state;
  for (auto& [k, v] : first.state("opt.")) state[k] = v.clone();
  second.load_state(state, "opt.", "test");
  loss_of(a).backward();
  first.step(h);
  loss_of(b).backward();
  second.step(h);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(second.steps(), 6);
}

}  // namespace
