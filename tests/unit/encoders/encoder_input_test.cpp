// Tests for source images resampled to an encoder's training resolution (encoders/encoder_input.h) and for the
// record of the training images' side.
#include "semfield/encoders/encoder_input.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

TEST(EncoderInput, ResamplesTheLongestSideAndKeepsTheAspect) {
  const at::Tensor images = at::rand({2, 3, 48, 64});
  EXPECT_TRUE(encoder_input(images, 0).is_same(images));   // 0: as they are
  EXPECT_TRUE(encoder_input(images, 64).is_same(images));  // already that size
  const at::Tensor down = encoder_input(images, 32);
  EXPECT_EQ(down.sizes(), (at::IntArrayRef{2, 3, 24, 32}));
  EXPECT_EQ(encoder_input(at::rand({1, 3, 100, 30}), 50).sizes(), (at::IntArrayRef{1, 3, 50, 15}));
  EXPECT_EQ(encoder_input(images, 128).sizes(), (at::IntArrayRef{2, 3, 96, 128}));  // up as well
  // Antialiased: a pixel checkerboard halved is close to its mean (measured 0.49..0.51 at the borders), where
  // sampling every other pixel would give 0 or 1.
  const at::Tensor board = at::arange(64 * 64).view({64, 64});
  const at::Tensor checker = at::remainder(at::remainder(board, 64) + at::div(board, 64, "floor"), 2).to(at::kFloat);
  const at::Tensor halved = encoder_input(checker.expand({1, 3, 64, 64}).contiguous(), 32);
  EXPECT_NEAR(halved.min().item<double>(), 0.5, 0.02);
  EXPECT_NEAR(halved.max().item<double>(), 0.5, 0.02);
  // A constant image stays constant.
  EXPECT_TRUE(at::allclose(encoder_input(at::full({1, 3, 40, 40}, 0.3f), 16), at::full({1, 3, 16, 16}, 0.3f)));
}

TEST(TrainingImageSide, RecordsTheSideEveryImageShared) {
  TrainingImageSide none;
  EXPECT_EQ(none.common(), 0);
  TrainingImageSide one;
  one.observe(at::zeros({4, 3, 32, 24}));
  one.observe(at::zeros({1, 3, 32, 32}));
  EXPECT_EQ(one.common(), 32);
  TrainingImageSide mixed;
  mixed.observe(at::zeros({1, 3, 32, 32}));
  mixed.observe(at::zeros({1, 3, 64, 64}));
  mixed.observe(at::zeros({1, 3, 32, 32}));
  EXPECT_EQ(mixed.common(), 0);
}

}  // namespace
}  // namespace semfield
