// Array <-> at::Tensor copies.
#include "semfield/io/array_torch.h"

#include <ATen/ATen.h>

#include <cstring>

#include "semfield/core/error.h"

namespace semfield {

namespace {

at::ScalarType scalar_type_of(DType dtype) {
  switch (dtype) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::U16: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I32: return at::kInt;
    case DType::I64: return at::kLong;
    case DType::Bool: return at::kBool;
  }
  SEMFIELD_ASSERT(false, "unknown dtype");
}

DType dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kDouble: return DType::F64;
    case at::kByte: return DType::U8;
    case at::kChar: return DType::I8;
    case at::kShort: return DType::I16;
    case at::kInt: return DType::I32;
    case at::kLong: return DType::I64;
    case at::kBool: return DType::Bool;
    default: break;
  }
  fail_usage("tensor_to_array: unsupported tensor dtype {}", c10::toString(type));
}

}  // namespace

at::Tensor array_to_tensor(const Array& array) {
  SEMFIELD_ASSERT(array.data.size() == static_cast<size_t>(array.numel()) * dtype_size(array.dtype),
                  "array_to_tensor: data size does not match shape and dtype");
  if (array.dtype == DType::U16) {
    at::Tensor wide = at::empty(array.shape, at::kInt);
    auto* out = wide.data_ptr<int32_t>();
    for (int64_t i = 0; i < array.numel(); ++i) {
      uint16_t v;
      std::memcpy(&v, array.data.data() + 2 * i, 2);
      out[i] = v;
    }
    return wide;
  }
  at::Tensor tensor = at::empty(array.shape, scalar_type_of(array.dtype));
  if (!array.data.empty()) std::memcpy(tensor.data_ptr(), array.data.data(), array.data.size());
  return tensor;
}

Array tensor_to_array(const at::Tensor& tensor) {
  SEMFIELD_ASSERT(tensor.defined(), "tensor_to_array: undefined tensor");
  Array array;
  array.dtype = dtype_of(tensor.scalar_type());
  const at::Tensor host = tensor.to(at::kCPU).contiguous();
  array.shape.assign(host.sizes().begin(), host.sizes().end());
  array.data.resize(static_cast<size_t>(host.numel()) * host.element_size());
  if (!array.data.empty()) std::memcpy(array.data.data(), host.data_ptr(), array.data.size());
  return array;
}

}  // namespace semfield
