// Tests for the Array <-> at::Tensor bridge: every dtype, half/bf16 bits, U16 widening, non-contiguous input.
#include "semfield/io/array_torch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/types.h>

#include <cstring>

#include "semfield/core/error.h"

using namespace semfield;

namespace {

Array patterned(DType dtype, std::vector<int64_t> shape) {
  Array a = Array::zeros(dtype, std::move(shape));
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 13 + 3);
  if (dtype == DType::Bool)
    for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i % 2);
  // Keep float payloads finite and non-nan so tensor comparisons are meaningful.
  if (dtype == DType::F16 || dtype == DType::BF16)
    for (size_t i = 1; i < a.data.size(); i += 2) a.data[i] = 0x3c;
  if (dtype == DType::F32)
    for (size_t i = 3; i < a.data.size(); i += 4) a.data[i] = 0x3f;
  if (dtype == DType::F64)
    for (size_t i = 7; i < a.data.size(); i += 8) a.data[i] = 0x3f;
  return a;
}

TEST(ArrayTorch, EveryDtypeRoundTripsBitExactly) {
  const std::pair<DType, at::ScalarType> cases[] = {
      {DType::F32, at::kFloat}, {DType::F16, at::kHalf}, {DType::BF16, at::kBFloat16}, {DType::F64, at::kDouble},
      {DType::U8, at::kByte},   {DType::I8, at::kChar},  {DType::I16, at::kShort},     {DType::I32, at::kInt},
      {DType::I64, at::kLong},  {DType::Bool, at::kBool}};
  for (const auto& [dtype, scalar] : cases) {
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{},
                                              std::vector<int64_t>{0, 4}}) {
      const Array a = patterned(dtype, shape);
      const at::Tensor t = array_to_tensor(a);
      EXPECT_EQ(t.scalar_type(), scalar) << dtype_name(dtype);
      EXPECT_EQ(t.sizes().vec(), shape) << dtype_name(dtype);
      ASSERT_EQ(static_cast<size_t>(t.numel() * t.element_size()), a.data.size());
      if (!a.data.empty()) {
        EXPECT_EQ(std::memcmp(t.data_ptr(), a.data.data(), a.data.size()), 0);
      }
      const Array b = tensor_to_array(t);
      EXPECT_EQ(b.dtype, dtype);
      EXPECT_EQ(b.shape, shape);
      EXPECT_EQ(b.data, a.data);
    }
  }
}

TEST(ArrayTorch, HalfAndBf16ValuesMatchTorch) {
  const Array h = Array{DType::F16, {3}, {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b}};  // 1, -2, 65504
  const at::Tensor th = array_to_tensor(h).to(at::kFloat);
  EXPECT_EQ(th[0].item<float>(), 1.0f);
  EXPECT_EQ(th[1].item<float>(), -2.0f);
  EXPECT_EQ(th[2].item<float>(), 65504.0f);
  const at::Tensor tb = torch::tensor({1.0f, 3.140625f}).to(at::kBFloat16);
  const Array b = tensor_to_array(tb);
  EXPECT_EQ(b.dtype, DType::BF16);
  EXPECT_EQ(b.to_float(), (std::vector<float>{1.0f, 3.140625f}));
}

TEST(ArrayTorch, U16WidensToInt32) {
  Array a = Array::zeros(DType::U16, {3});
  const uint16_t values[3] = {0, 40000, 65535};
  std::memcpy(a.data.data(), values, sizeof values);
  const at::Tensor t = array_to_tensor(a);
  EXPECT_EQ(t.scalar_type(), at::kInt);
  EXPECT_EQ(t[1].item<int32_t>(), 40000);
  EXPECT_EQ(t[2].item<int32_t>(), 65535);
  EXPECT_EQ(tensor_to_array(t).to_int64(), (std::vector<int64_t>{0, 40000, 65535}));
}

TEST(ArrayTorch, NonContiguousTensorsAreCopiedInCOrder) {
  const at::Tensor base = torch::arange(6, at::kLong).reshape({2, 3});
  const Array t = tensor_to_array(base.t());  // [3, 2] view with strides (1, 3)
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.to_int64(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  const Array s = tensor_to_array(base.select(1, 2));  // a strided slice with a storage offset
  EXPECT_EQ(s.to_int64(), (std::vector<int64_t>{2, 5}));
  // The array owns its bytes: changing the tensor afterwards does not change it.
  at::Tensor f = torch::ones({2});
  const Array copy = tensor_to_array(f);
  f.fill_(5.0f);
  EXPECT_EQ(copy.to_float(), (std::vector<float>{1.0f, 1.0f}));
}

TEST(ArrayTorch, UnsupportedDtypeIsAUsageError) {
  EXPECT_THROW(tensor_to_array(torch::zeros({2}, at::kComplexFloat)), UsageError);
}

}  // namespace
