// Shared assertions for the kernel tests: elementwise closeness in float64 and TORCH_CHECK messages.
#pragma once

#include <string>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

namespace semfield::kernels::test {

/// Asserts `got` is defined, has `want`'s shape, and |got - want| <= atol + rtol |want| elementwise
/// (compared in float64); reports how many values differ and the largest difference.
inline void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, double atol,
                         const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  if (got.numel() == 0) return;
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  const at::Tensor diff = (g - w).abs();
  const int64_t bad = (diff > atol + rtol * w.abs()).sum().item<int64_t>();
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.numel() << " values differ, max abs diff "
                    << diff.max().item<double>();
}

/// The message of the c10::Error (TORCH_CHECK) that `fn` throws, or "<no error>".
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}

}  // namespace semfield::kernels::test
