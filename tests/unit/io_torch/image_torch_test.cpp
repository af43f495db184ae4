// Tests for the Image <-> at::Tensor bridge: shapes per channel count, values at (y, x, c), ownership, bad input.
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

TEST(ImageTorch, TensorBecomesAnImageOfItsShapeAndValues) {
  // Integer ids (a transposed, non-contiguous view) keep their values exactly; [H, W] is one channel.
  const at::Tensor ids = at::arange(6, at::kLong).reshape({3, 2}).t();  // [[0, 2, 4], [1, 3, 5]]
  const Image id = tensor_to_image(ids);
  ASSERT_EQ(id.width, 3);
  ASSERT_EQ(id.height, 2);
  ASSERT_EQ(id.channels, 1);
  EXPECT_FLOAT_EQ(id.at(2, 0), 4.0f);
  EXPECT_FLOAT_EQ(id.at(0, 1), 1.0f);
  // [H, W, C] round-trips through image_to_tensor.
  const at::Tensor rgb = at::rand({4, 5, 3});
  const Image image = tensor_to_image(rgb);
  ASSERT_EQ(image.channels, 3);
  EXPECT_TRUE(at::equal(image_to_tensor(image), rgb));
}

TEST(ImageTorch, TensorOfAnotherRankOrEmptyIsAUsageError) {
  EXPECT_THROW(tensor_to_image(at::zeros({2})), UsageError);
  EXPECT_THROW(tensor_to_image(at::zeros({0, 3})), UsageError);
  EXPECT_THROW(tensor_to_image(at::zeros({1, 2, 2, 3})), UsageError);
}
