// Dtype helpers, Array element access and IEEE half / bfloat16 conversions.
#include "semfield/io/array.h"

#include <cmath>
#include <cstring>

#include "semfield/core/error.h"

namespace semfield {

namespace {

uint32_t float_bits(float f) {
  uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float bits_float(uint32_t bits) {
  float f = 0.0f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Reads element `i` of a little-endian buffer as T (memcpy: the buffer carries no alignment promise).
template <typename T>
T load(const std::vector<uint8_t>& data, int64_t i) {
  T value;
  std::memcpy(&value, data.data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return value;
}

void check_size(const Array& array) {
  SEMFIELD_ASSERT(array.data.size() == static_cast<size_t>(array.numel()) * dtype_size(array.dtype),
                  "Array data size does not match shape and dtype");
}

// Element `i` as double: exact for every dtype except I64 beyond 2^53 (handled separately by to_int64).
double element_as_double(const Array& a, int64_t i) {
  switch (a.dtype) {
    case DType::F32: return load<float>(a.data, i);
    case DType::F16: return half_to_float(load<uint16_t>(a.data, i));
    case DType::BF16: return bf16_to_float(load<uint16_t>(a.data, i));
    case DType::F64: return load<double>(a.data, i);
    case DType::U8: return load<uint8_t>(a.data, i);
    case DType::I8: return load<int8_t>(a.data, i);
    case DType::U16: return load<uint16_t>(a.data, i);
    case DType::I16: return load<int16_t>(a.data, i);
    case DType::I32: return load<int32_t>(a.data, i);
    case DType::I64: return static_cast<double>(load<int64_t>(a.data, i));
    case DType::Bool: return load<uint8_t>(a.data, i) != 0 ? 1.0 : 0.0;
  }
  SEMFIELD_ASSERT(false, "unknown dtype");
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64: return 8;
    case DType::F32:
    case DType::I32: return 4;
    case DType::F16:
    case DType::BF16:
    case DType::U16:
    case DType::I16: return 2;
    case DType::U8:
    case DType::I8:
    case DType::Bool: return 1;
  }
  SEMFIELD_ASSERT(false, "unknown dtype");
}

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::U16: return "U16";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::Bool: return "BOOL";
  }
  SEMFIELD_ASSERT(false, "unknown dtype");
}

int64_t Array::numel() const {
  // A zero dimension first: parsers accept shapes like (2^62, 2^62, 0), whose partial products overflow.
  for (const int64_t d : shape)
    if (d == 0) return 0;
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

std::vector<float> Array::to_float() const {
  check_size(*this);
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<float>(element_as_double(*this, i));
  return out;
}

std::vector<int64_t> Array::to_int64() const {
  check_size(*this);
  const int64_t n = numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::I64) {
      out[static_cast<size_t>(i)] = load<int64_t>(data, i);
      continue;
    }
    const double v = element_as_double(*this, i);
    // 2^63 is exactly representable; anything at or past it (or non-finite, or fractional) is rejected.
    if (!std::isfinite(v) || std::floor(v) != v || v < -9223372036854775808.0 || v >= 9223372036854775808.0)
      throw InputError(fmt::format("array element {} of dtype {} is not an integer ({})", i, dtype_name(dtype), v));
    out[static_cast<size_t>(i)] = static_cast<int64_t>(v);
  }
  return out;
}

Array Array::from_float(std::vector<int64_t> shape, const std::vector<float>& values) {
  Array a = zeros(DType::F32, std::move(shape));
  SEMFIELD_ASSERT(static_cast<size_t>(a.numel()) == values.size(), "from_float: values do not match shape");
  if (!values.empty()) std::memcpy(a.data.data(), values.data(), values.size() * sizeof(float));
  return a;
}

Array Array::zeros(DType dtype, std::vector<int64_t> shape) {
  for (const int64_t d : shape) SEMFIELD_ASSERT(d >= 0, "Array::zeros: negative dimension");
  Array a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  a.data.assign(static_cast<size_t>(a.numel()) * dtype_size(dtype), 0);
  return a;
}

// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return bits_float(sign | float_bits(magnitude));
  }
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // inf / nan (payload kept)
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));          // rebias 15 -> 127
}

uint16_t float_to_half(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // quiet nan
  // 65520 (0x477ff000) is the tie between the largest half 65504 (odd mantissa) and 2^16: it and
  // everything above round to infinity.
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (abs >= 0x38800000u) {
    // Normal half: round the 23-bit mantissa to 10 bits, ties to even; a carry correctly bumps the exponent.
    const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  // At most 2^-25 (the tie between 0 and the smallest subnormal) rounds to zero.
  if (abs <= 0x33000000u) return sign;
  // Subnormal half: value / 2^-24 = mantissa_with_implicit_bit * 2^(exponent - 126), rounded to even.
  const uint32_t exponent = abs >> 23;
  const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // in [14, 24] here
  uint32_t m = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (m & 1u))) ++m;  // m == 1024 is exactly the smallest normal
  return static_cast<uint16_t>(sign | m);
}

}  // namespace semfield
