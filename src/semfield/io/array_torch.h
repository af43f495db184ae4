// Bridge between the plain host Array (npy/safetensors I/O) and LibTorch tensors; both directions copy.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/io/array.h"

namespace semfield {

/// A new contiguous CPU tensor with the array's shape and values. Dtypes map one to one (F16 -> kHalf,
/// BF16 -> kBFloat16, Bool -> kBool, ...) except U16, which LibTorch 1.13 lacks: it becomes kInt
/// (int32), which holds every uint16 value exactly.
at::Tensor array_to_tensor(const Array& array);

/// A contiguous little-endian copy of any CPU or device tensor of dtype float/half/bfloat16/double,
/// uint8/int8/int16/int32/int64 or bool; other dtypes (complex, quantised, ...) are a UsageError.
Array tensor_to_array(const at::Tensor& tensor);

}  // namespace semfield
