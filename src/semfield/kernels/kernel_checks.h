// Argument checks shared by the hand-written kernels: the device gate and dtype / shape / layout checks.
//
// Misuse of a kernel (a wrong dtype, shape or device) is a programmer error, reported with TORCH_CHECK
// (c10::Error) and a message naming the op, the argument, what was expected and what was given.
#pragma once

#include <initializer_list>
#include <utility>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace semfield::kernels::detail {

/// Every kernel has a CPU implementation only. Public kernel functions call this before dispatching, so
/// a CUDA (or other device) implementation can later be added behind the same function without touching
/// callers; until then a tensor on another device is rejected with a clear message.
inline void require_cpu(const char* op, std::initializer_list<std::pair<const char*, const at::Tensor*>> args) {
  for (const auto& [name, tensor] : args) {
    if (!tensor->defined()) continue;
    TORCH_CHECK(tensor->device().is_cpu(), op, ": ", name, " is on device ", tensor->device(),
                ", but semfield has no kernel for that device (only CPU kernels are built)");
  }
}

inline void check_defined(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
}

inline void check_dtype(const char* op, const char* name, const at::Tensor& t, at::ScalarType dtype) {
  check_defined(op, name, t);
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
}

inline void check_dim(const char* op, const char* name, const at::Tensor& t, int64_t dim) {
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must have ", dim, " dimension(s), got shape ", t.sizes());
}

/// Checks size(d) == expected; `what` names the expected quantity (e.g. "N (rows of xyz)").
inline void check_size(const char* op, const char* name, const at::Tensor& t, int64_t d, int64_t expected,
                       const char* what) {
  TORCH_CHECK(t.size(d) == expected, op, ": ", name, " has shape ", t.sizes(), ", but dimension ", d,
              " must be ", expected, " (", what, ")");
}

/// For tensors written in place, whose layout the kernel relies on.
inline void check_contiguous(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous (it is written in place), got strides ",
              t.strides());
}

}  // namespace semfield::kernels::detail
