// The GEMMs under LibTorch run OpenBLAS kernels that fit the CPU: the test main re-executes the process with the
// CLI's runtime settings (runtime_settings.h), which force an AVX-512 / AVX2 core where OpenBLAS would fall back
// to its generic one (Debian 12's OpenBLAS 0.3.21 on an Intel Emerald Rapids: "Prescott", 4x slower GEMMs).
#include <cstdlib>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/runtime_settings.h"

namespace semfield {
namespace {

TEST(BlasCore, OpenblasRunsKernelsThatFitTheCpu) {
  // A GEMM first, so the core is the one LibTorch's matmuls use.
  const at::Tensor a = at::ones({64, 64});
  EXPECT_FLOAT_EQ(at::matmul(a, a).index({0, 0}).item<float>(), 64.0f);
  const std::string core = openblas_core_name();
  if (core.empty()) GTEST_SKIP() << "LibTorch's BLAS is not OpenBLAS here (nothing to check)";
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  SCOPED_TRACE("OpenBLAS core " + core + ", OPENBLAS_CORETYPE " + (forced ? forced : "(unset)"));
  // Whatever was chosen, the rule has nothing left to replace -- unless the user forced a core themselves (a value
  // the rule would not have set on this CPU).
  const std::string ours = openblas_coretype_override("Prescott", cpu_has_avx512(), cpu_has_avx2_fma());
  if (forced == nullptr || std::string(forced) == ours) {
    EXPECT_EQ(openblas_coretype_override(core, cpu_has_avx512(), cpu_has_avx2_fma()), "");
  }
}

}  // namespace
}  // namespace semfield
