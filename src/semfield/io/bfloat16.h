// bfloat16 <-> float (round to nearest even), inline: safetensors BF16 I/O (array.h) and the fused kernels' bf16
// layers (kernels/small_gemm.h) share them.
#pragma once

#include <cstdint>
#include <cstring>

namespace semfield {

inline float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f = 0.0f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // keep nan quiet
  // Round to nearest even; overflow past the largest bf16 carries into the infinity pattern.
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace semfield
