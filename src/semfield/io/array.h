// A dtype-tagged n-d array in host memory: the common currency of .npy and .safetensors I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "semfield/io/bfloat16.h"

namespace semfield {

enum class DType { F32, F16, BF16, F64, U8, I8, U16, I16, I32, I64, Bool };

/// Bytes per element.
size_t dtype_size(DType dtype);
/// Short name as used by safetensors ("F32", "BF16", "I64", "BOOL", ...).
std::string dtype_name(DType dtype);

/// Contiguous C-order array. `data` holds numel()*dtype_size(dtype) bytes, little-endian.
struct Array {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  int64_t numel() const;
  /// Every element converted to float (F16/BF16 decoded; integers cast).
  std::vector<float> to_float() const;
  /// Every element converted to int64; throws InputError for floating dtypes with non-integral values.
  std::vector<int64_t> to_int64() const;
  /// Builds an F32 array.
  static Array from_float(std::vector<int64_t> shape, const std::vector<float>& values);
  static Array zeros(DType dtype, std::vector<int64_t> shape);
};

/// IEEE half conversions (round to nearest even); bfloat16's are in bfloat16.h.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

}  // namespace semfield
