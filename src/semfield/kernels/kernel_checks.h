// Argument checks shared by the hand-written kernels: the device gate and dtype / shape / layout checks.
//
// Misuse of a kernel (a wrong dtype, shape or device) is a programmer error, reported with TORCH_CHECK
// (c10::Error) and a message naming the op, the argument, what was expected and what was given.
#pragma once

#include <cstdint>
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
/// A float32 tensor of `dim` dimensions (check_dtype + check_dim: the common case of the kernels' arguments).
inline void check_float(const char* op, const char* name, const at::Tensor& t, int64_t dim) {
  check_dtype(op, name, t, at::kFloat);
  check_dim(op, name, t, dim);
}

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

/// The packed-ray layout: ray r owns samples [ray_offsets[r], ray_offsets[r+1]) of S, so the offsets start at 0,
/// end at S and never decrease. Checks a 1-D Long CPU tensor of R+1 >= 1 entries and returns R.
inline int64_t check_ray_offsets(const char* op, const at::Tensor& ray_offsets, int64_t S) {
  check_dtype(op, "ray_offsets", ray_offsets, at::kLong);
  check_dim(op, "ray_offsets", ray_offsets, 1);
  TORCH_CHECK(ray_offsets.size(0) >= 1, op, ": ray_offsets must have R+1 >= 1 entries, got none");
  require_cpu(op, {{"ray_offsets", &ray_offsets}});
  const int64_t R = ray_offsets.size(0) - 1;
  const auto off = ray_offsets.accessor<int64_t, 1>();
  TORCH_CHECK(off[0] == 0, op, ": ray_offsets[0] must be 0, got ", off[0]);
  TORCH_CHECK(off[R] == S, op, ": ray_offsets[R] (R = ", R, ") must equal the number of samples S = ", S, ", got ",
              off[R]);
  for (int64_t r = 0; r < R; ++r)
    TORCH_CHECK(off[r] <= off[r + 1], op, ": ray_offsets must be non-decreasing, but ray_offsets[", r, "] = ",
                off[r], " > ray_offsets[", r + 1, "] = ", off[r + 1]);
  return R;
}

}  // namespace semfield::kernels::detail
