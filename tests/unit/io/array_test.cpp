// Tests for Array and the half / bfloat16 conversions (known bit patterns, rounding, specials).
#include "semfield/io/array.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "semfield/core/error.h"

using namespace semfield;
using ::testing::HasSubstr;

namespace {

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::I32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::U16), 2u);
  EXPECT_EQ(dtype_size(DType::I16), 2u);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
  EXPECT_EQ(dtype_size(DType::I8), 1u);
  EXPECT_EQ(dtype_size(DType::Bool), 1u);
  EXPECT_EQ(dtype_name(DType::F32), "F32");
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(dtype_name(DType::Bool), "BOOL");
  EXPECT_EQ(dtype_name(DType::U16), "U16");
  EXPECT_EQ(dtype_name(DType::I64), "I64");
}

TEST(HalfConversion, KnownBitPatterns) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(0.5f), 0x3800);
  EXPECT_EQ(float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);                 // largest finite half
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);    // smallest normal
  EXPECT_EQ(float_to_half(std::ldexp(1023.0f, -24)), 0x03ff); // largest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);    // smallest subnormal
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
  const uint16_t nan = float_to_half(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);

  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(to_bits(half_to_float(0x8000)), 0x80000000u);
  EXPECT_EQ(half_to_float(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7c01)));  // signalling nan stays nan
}

TEST(HalfConversion, RoundsToNearestEven) {
  // Ties between two halves go to the even mantissa.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);        // 1 + half ulp -> 1
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);    // tie between 0x3c01 and 0x3c02
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) * 1.01f), 0x3c01); // just above the tie
  // Overflow: 65520 is the tie between 65504 and 2^16 and rounds to infinity; just below it does not.
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(float_to_half(1.0e6f), 0x7c00);
  EXPECT_EQ(float_to_half(-1.0e6f), 0xfc00);
  // Subnormal ties: 2^-25 ties 0 and 2^-24 (-> 0); 3 * 2^-25 ties 2^-24 and 2^-23 (-> 2 * 2^-24).
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(float_to_half(3 * std::ldexp(1.0f, -25)), 0x0002);
  EXPECT_EQ(float_to_half(5 * std::ldexp(1.0f, -25)), 0x0002);
  EXPECT_EQ(float_to_half(-std::ldexp(1.0f, -26)), 0x8000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::denorm_min()), 0x0000);
  // Rounding the largest subnormal up carries into the smallest normal.
  EXPECT_EQ(float_to_half(std::ldexp(1023.5f, -24)), 0x0400);
}

TEST(HalfConversion, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f)))) << h;
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Bf16Conversion, KnownBitPatternsAndRounding) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(from_bits(0x40490fdb)), 0x4049);  // pi rounds down
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808000)), 0x3f80);  // tie -> even
  EXPECT_EQ(float_to_bf16(from_bits(0x3f818000)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808001)), 0x3f81);  // above the tie
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to infinity
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(float_to_bf16(from_bits(0x00010000)), 0x0001);  // subnormals keep their top bits
  const uint16_t nan = float_to_bf16(from_bits(0x7f800001));  // a nan whose payload is all in the low half
  EXPECT_EQ(nan & 0x7f80, 0x7f80);
  EXPECT_NE(nan & 0x007f, 0);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(to_bits(bf16_to_float(0xc049)), 0xc0490000u);
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = bf16_to_float(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16(f), b) << "bf16 0x" << std::hex << b;
  }
}

template <typename T>
Array make(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Array a = Array::zeros(dtype, std::move(shape));
  EXPECT_EQ(a.data.size(), values.size() * sizeof(T));
  std::memcpy(a.data.data(), values.data(), a.data.size());
  return a;
}

TEST(Array, NumelZerosAndFromFloat) {
  EXPECT_EQ(Array::zeros(DType::F32, {}).numel(), 1);  // 0-d holds one element
  EXPECT_EQ(Array::zeros(DType::F32, {}).data.size(), 4u);
  EXPECT_EQ(Array::zeros(DType::I64, {0, 5}).numel(), 0);
  EXPECT_TRUE(Array::zeros(DType::I64, {0, 5}).data.empty());
  EXPECT_EQ(Array::zeros(DType::I16, {2, 3}).data.size(), 12u);
  const Array a = Array::from_float({2, 2}, {1.0f, -2.5f, 3.0f, 4.0f});
  EXPECT_EQ(a.dtype, DType::F32);
  EXPECT_EQ(a.to_float(), (std::vector<float>{1.0f, -2.5f, 3.0f, 4.0f}));
  EXPECT_THROW(Array::from_float({3}, {1.0f}), std::logic_error);
}

TEST(Array, ToFloatDecodesEveryDtype) {
  EXPECT_EQ(make<uint16_t>(DType::F16, {2}, {0x3c00, 0xc000}).to_float(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(make<uint16_t>(DType::BF16, {2}, {0x3f80, 0x4049}).to_float()[0], 1.0f);
  EXPECT_EQ(make<double>(DType::F64, {1}, {0.25}).to_float(), (std::vector<float>{0.25f}));
  EXPECT_EQ(make<uint8_t>(DType::U8, {2}, {0, 255}).to_float(), (std::vector<float>{0.0f, 255.0f}));
  EXPECT_EQ(make<int8_t>(DType::I8, {2}, {-128, 127}).to_float(), (std::vector<float>{-128.0f, 127.0f}));
  EXPECT_EQ(make<uint16_t>(DType::U16, {1}, {65535}).to_float(), (std::vector<float>{65535.0f}));
  EXPECT_EQ(make<int16_t>(DType::I16, {1}, {-32768}).to_float(), (std::vector<float>{-32768.0f}));
  EXPECT_EQ(make<int32_t>(DType::I32, {1}, {-7}).to_float(), (std::vector<float>{-7.0f}));
  EXPECT_EQ(make<int64_t>(DType::I64, {1}, {1 << 20}).to_float(), (std::vector<float>{1048576.0f}));
  EXPECT_EQ(make<uint8_t>(DType::Bool, {3}, {0, 1, 2}).to_float(), (std::vector<float>{0.0f, 1.0f, 1.0f}));
}

TEST(Array, ToInt64IsExactAndRejectsFractions) {
  const int64_t big = (int64_t{1} << 62) + 1;  // not representable as a double
  EXPECT_EQ(make<int64_t>(DType::I64, {2}, {big, -big}).to_int64(), (std::vector<int64_t>{big, -big}));
  EXPECT_EQ(make<uint16_t>(DType::U16, {1}, {65535}).to_int64(), (std::vector<int64_t>{65535}));
  EXPECT_EQ(Array::from_float({2}, {-3.0f, 7.0f}).to_int64(), (std::vector<int64_t>{-3, 7}));
  try {
    Array::from_float({3}, {1.0f, 2.0f, 1.5f}).to_int64();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("element 2"));
    EXPECT_THAT(e.what(), HasSubstr("not an integer"));
  }
  EXPECT_THROW(Array::from_float({1}, {std::nanf("")}).to_int64(), InputError);
  EXPECT_THROW(Array::from_float({1}, {1e30f}).to_int64(), InputError);
  EXPECT_THROW(make<double>(DType::F64, {1}, {9223372036854775808.0}).to_int64(), InputError);
}

}  // namespace
