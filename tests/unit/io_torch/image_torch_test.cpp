// Tests for the Image -> at::Tensor bridge: shapes per channel count, values at (y, x, c), ownership, empty input.
#include "semfield/io/image_torch.h"

#include <gtest/gtest.h>

#include <torch/types.h>

#include "semfield/core/error.h"

using namespace semfield;

TEST(ImageTorch, OneChannelImageBecomesAnHxWTensorOwningItsValues) {
  auto image = std::make_unique<Image>(3, 2, 1);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) image->at(x, y) = static_cast<float>(10 * y + x);
  const at::Tensor t = image_to_tensor(*image);
  image.reset();  // the tensor must not point into the image
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_FLOAT_EQ(t[0][2].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(t[1][0].item<float>(), 10.0f);
  EXPECT_FLOAT_EQ(t[1][2].item<float>(), 12.0f);
}

TEST(ImageTorch, MultiChannelImageKeepsItsChannelAxisLast) {
  Image image(2, 2, 3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x)
      for (int c = 0; c < 3; ++c) image.at(x, y, c) = static_cast<float>(100 * y + 10 * x + c);
  const at::Tensor t = image_to_tensor(image);
  ASSERT_EQ(t.sizes(), (at::IntArrayRef{2, 2, 3}));
  EXPECT_FLOAT_EQ(t[1][0][2].item<float>(), 102.0f);
  EXPECT_FLOAT_EQ(t[0][1][1].item<float>(), 11.0f);
}

TEST(ImageTorch, EmptyImageIsAUsageError) { EXPECT_THROW(image_to_tensor(Image()), UsageError); }
