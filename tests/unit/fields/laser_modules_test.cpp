// Laser's modules: known answers for the adapter, the label volume and text augmentation, and the attention's cost
// growing linearly with the number of features.
#include "semfield/fields/laser_modules.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "semfield/segment/text_query.h"
#include "semfield/train/adam.h"

namespace semfield {
namespace {

kernels::AdamHyper laser_test_hyper(double lr) { return {lr, 0.9, 0.999, 1e-8, 0.0}; }

TEST(LaserAttention, CostGrowsLinearlyWithTheNumberOfFeatures) {
  // Multiply-adds: exactly proportional to N for a fixed width and rank (no N^2 term).
  const int64_t d = 512, e = 48;
  EXPECT_EQ(TransientQueryAttention::flops(20000, d, e), 2 * TransientQueryAttention::flops(10000, d, e));
  EXPECT_EQ(TransientQueryAttention::flops(40000, d, e), 4 * TransientQueryAttention::flops(10000, d, e));
  // A full N x N attention over 40,000 features would need N^2 d = 8.2e11 multiply-adds; this needs 5.0e9.
  EXPECT_LT(TransientQueryAttention::flops(40000, d, e), 40000LL * 40000LL * d / 100);
  // The forward pass works on batches of any size with the bank's fixed-size context (no [N,N] matrix).
  TransientQueryAttention attention(d, e, 1);
  for (int64_t n : {1, 4096}) EXPECT_EQ(attention.forward_train(at::randn({n, d})).sizes(), (at::IntArrayRef{n, d}));
}

TEST(LaserAttention, InferenceDoesNotDependOnTheOtherFeaturesOfTheBatch) {
  TransientQueryAttention attention(16, 4, 2);
  torch::manual_seed(0);
  (void)attention.forward_train(at::randn({256, 16}));  // sets the running context
  const at::Tensor x = at::randn({8, 16});
  const at::Tensor alone = attention.forward(x.narrow(0, 0, 1));
  const at::Tensor in_batch = attention.forward(at::cat({x, at::randn({100, 16}) * 5})).narrow(0, 0, 1);
  EXPECT_TRUE(at::allclose(alone, in_batch, 1e-5, 1e-6));
  // The state round-trips, running context included.
  TransientQueryAttention copy(16, 4, 99);
  copy.load_state(attention.state(), "test");
  EXPECT_TRUE(at::allclose(copy.forward(x), attention.forward(x), 1e-5, 1e-6));
}

TEST(LaserAdapter, StartsAsTheIdentityAndLearnsToRemoveANoiseDirection) {
  const int64_t d = 32;
  ClipAdapter adapter(d, 16, 3);
  torch::manual_seed(1);
  const at::Tensor x0 = at::randn({64, d});
  EXPECT_TRUE(at::allclose(adapter.forward(x0), x0));
  // Tokens = a clean part (in the first 8 dims) + noise along one fixed direction n. Known answer: the map that
  // subtracts the n-component, which the adapter must find from the clean targets.
  at::Tensor n = at::zeros({d});
  n.narrow(0, 8, d - 8).normal_();
  n = n / n.norm();
  DenseAdam adam(adapter.parameters());
  auto batch = [&](at::Tensor& clean) {
    clean = at::zeros({256, d});
    clean.narrow(1, 0, 8).normal_();
    return clean + at::randn({256, 1}) * 2.0 * n.unsqueeze(0);
  };
  for (int step = 0; step < 600; ++step) {
    at::Tensor clean;
    const at::Tensor noisy = batch(clean);
    at::mse_loss(adapter.forward(noisy), clean).backward();
    adam.step(laser_test_hyper(3e-3));
  }
  at::Tensor clean;
  const at::Tensor noisy = batch(clean);
  const at::Tensor out = adapter.forward(noisy).detach();
  const double before = at::matmul(noisy - clean, n).abs().mean().item<double>();
  const double after = at::matmul(out, n).abs().mean().item<double>();
  EXPECT_LT(after, 0.1 * before) << "noise along n: " << before << " -> " << after;
  EXPECT_GT(at::cosine_similarity(out, clean, 1).mean().item<double>(), 0.97);
}

TEST(LaserLabelVolume, LogitsAreScaledCosinesAndItLearnsASplitOfSpace) {
  const int64_t d = 8;
  LabelVolume volume(4, 16, d, 5);
  const at::Tensor texts = at::eye(d).narrow(0, 0, 2);  // class 0 = e0, class 1 = e1
  const at::Tensor f = torch::tensor({{3.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}});
  const at::Tensor logits = volume.logits(f, texts * 7.0);
  EXPECT_NEAR(logits[0][0].item<double>(), 10.0, 1e-4);  // initial scale 10 x cosine 1
  EXPECT_NEAR(logits[0][1].item<double>(), 0.0, 1e-4);
  EXPECT_NEAR(logits[1][1].item<double>(), 10.0 / std::sqrt(2.0), 1e-4);
  // Known answer: points with x < 0.4 are class 0, the rest class 1 (a plane the vector-matrix volume holds).
  std::vector<at::Tensor> params = volume.grid_parameters();
  for (const at::Tensor& p : volume.network_parameters()) params.push_back(p);
  DenseAdam adam(params);
  torch::manual_seed(2);
  for (int step = 0; step < 300; ++step) {
    const at::Tensor p = at::rand({512, 3});
    const at::Tensor label = p.select(1, 0).ge(0.4f).to(at::kLong);
    at::cross_entropy_loss(volume.logits(volume.forward(p), texts), label).backward();
    adam.step(laser_test_hyper(2e-2));
  }
  const at::Tensor p = at::rand({2000, 3});
  const at::Tensor label = p.select(1, 0).ge(0.4f).to(at::kLong);
  const double accuracy = volume.logits(volume.forward(p), texts).argmax(1).eq(label).to(at::kFloat).mean().item<double>();
  EXPECT_GT(accuracy, 0.97);
  // State round trip.
  LabelVolume copy(4, 16, d, 77);
  copy.load_state(volume.state(), "test");
  EXPECT_TRUE(at::allclose(copy.forward(p), volume.forward(p)));
}

TEST(LaserLabelVolume, ClassifiesFromCompositedValuesAsFromProjectedFeatures) {
  // Inference classifies rays from their composited 3R values (no [rays, D] features): the logits equal those of the
  // projected features, and the fused composite equals the differentiable one (the path training takes).
  torch::manual_seed(6);
  const int64_t d = 32;
  LabelVolume volume(5, 12, d, 9);
  {
    at::NoGradGuard guard;
    for (const at::Tensor& p : volume.network_parameters()) p.add_(at::randn_like(p) * 0.3);  // a non-zero bias
  }
  const at::Tensor counts = at::randint(0, 9, {200}, at::kLong);
  const at::Tensor offsets = at::cat({at::zeros({1}, at::kLong), counts.cumsum(0)});
  const int64_t s = offsets[200].item<int64_t>();
  const at::Tensor points = at::rand({s, 3}), weights = at::rand({s}) * 0.3;
  const at::Tensor trained = volume.composite(points, weights, offsets, 1e-4f);  // gradients on: LibTorch's path
  EXPECT_TRUE(trained.requires_grad());
  at::Tensor fused;
  {
    at::NoGradGuard guard;
    fused = volume.composite(points, weights, offsets, 1e-4f);
  }
  EXPECT_FALSE(fused.requires_grad());
  EXPECT_TRUE(at::allclose(fused, trained.detach(), 1e-4, 1e-5));
  const at::Tensor opacity = at::rand({200});
  const at::Tensor texts = at::randn({6, d});
  const at::Tensor want = volume.logits(volume.project(fused, opacity), texts).detach();
  const at::Tensor got = volume.logits_of_values(fused, opacity, texts);
  EXPECT_TRUE(at::allclose(got, want, 1e-3, 1e-4)) << (got - want).abs().max().item<double>();
  const at::Tensor valid = at::ones({10, 20}, at::kBool);
  EXPECT_TRUE(label_volume_classes(volume, fused, opacity, texts, valid).reshape(-1).equal(want.argmax(1)));
}

TEST(LaserTextAugmentation, StandardisationUndoesAClassThatScoresHighEverywhere) {
  // Known answer: three classes on 300 pixels (100 each); class 2's text scores +0.3 on every pixel (CLIP's
  // per-prompt bias). The plain arg-max gives class 2 everywhere; per-class standardisation recovers the truth.
  at::Tensor truth = at::arange(300, at::kLong).div(100, "floor");
  at::Tensor scores = at::full({3, 300}, 0.2f);
  for (int64_t k = 0; k < 3; ++k) scores[k].masked_fill_(truth.eq(k), 0.3f);
  scores[2] += 0.3f;
  EXPECT_EQ(scores.argmax(0).eq(2).sum().item<int64_t>(), 300);
  EXPECT_TRUE(standardise_rows(scores).argmax(0).equal(truth));
  // The same through the class map of features: texts e0..e2, features = truth class + the bias class direction.
  const at::Tensor texts = at::eye(3);
  const at::Tensor features = at::one_hot(truth, 3).to(at::kFloat) * 0.3f + texts[2].unsqueeze(0) * 0.6f + 0.2f;
  const at::Tensor valid = at::ones({1, 300}, at::kBool);
  const at::Tensor plain = open_vocabulary_classes(features, texts, valid, false);
  const at::Tensor standard = open_vocabulary_classes(features, texts, valid, true);
  EXPECT_EQ(plain.eq(2).sum().item<int64_t>(), 300);
  EXPECT_TRUE(standard.reshape(-1).equal(truth));
}

}  // namespace
}  // namespace semfield
