// Tests for the residual U-Net image encoder: output size, determinism, independence of the batch (instance
// norm), gradients to every parameter, state round trip.
#include "semfield/encoders/resunet.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_support.h"

namespace semfield {
namespace {

TEST(ResUNet, QuarterResolutionFeaturesForAnyImageSize) {
  ResUNetConfig config;
  config.base_channels = 8;
  config.out_channels = 12;
  const ResUNet net(config, 1);
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{64, 64}, {48, 80}, {30, 42}, {17, 9}}) {
    SCOPED_TRACE(testing::Message() << h << "x" << w);
    const at::Tensor out = net.forward(at::rand({2, 3, h, w}));
    EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 12, (h + 3) / 4, (w + 3) / 4}));
    EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  }
}

TEST(ResUNet, DeterministicAndIndependentOfTheBatch) {
  ResUNetConfig config;
  config.base_channels = 8;
  const ResUNet a(config, 7), b(config, 7), c(config, 8);
  at::manual_seed(0);
  const at::Tensor images = at::rand({3, 3, 32, 40});
  const at::Tensor fa = a.forward(images);
  EXPECT_TRUE(fa.equal(b.forward(images)));
  EXPECT_FALSE(fa.allclose(c.forward(images)));
  // One image alone gives the features it gets in a batch: instance norm, no batch statistics.
  EXPECT_TRUE(a.forward(images.narrow(0, 1, 1)).allclose(fa.narrow(0, 1, 1), 1e-4, 1e-5));
}

TEST(ResUNet, GradientsReachEveryParameter) {
  ResUNetConfig config;
  config.base_channels = 4;
  config.out_channels = 5;
  const ResUNet net(config, 2);
  const at::Tensor out = net.forward(at::rand({2, 3, 24, 24}));
  (out * at::randn_like(out)).sum().backward();
  for (const auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<float>(), 0.0f) << name;
  }
  EXPECT_EQ(net.named_parameters().size(), net.state().size());
}

TEST(ResUNet, StateRoundTripAndMismatchNamed) {
  ResUNetConfig config;
  config.base_channels = 4;
  const ResUNet source(config, 3);
  ResUNet target(config, 4);
  const at::Tensor images = at::rand({1, 3, 16, 16});
  EXPECT_FALSE(source.forward(images).allclose(target.forward(images)));
  target.load_state(source.state(), "test.safetensors");
  EXPECT_TRUE(source.forward(images).equal(target.forward(images)));
  ResUNetConfig wider = config;
  wider.base_channels = 6;
  ResUNet other(wider, 1);
  EXPECT_THAT(test::error_of([&] { other.load_state(source.state(), "test.safetensors"); }),
              ::testing::AllOf(::testing::HasSubstr("test.safetensors"), ::testing::HasSubstr("stem.conv.weight")));
  ResUNetConfig bad;
  bad.out_channels = 0;
  EXPECT_THAT(test::error_of([&] { ResUNet(bad, 0); }), ::testing::HasSubstr("channel counts must be positive"));
}

}  // namespace
}  // namespace semfield
