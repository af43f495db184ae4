// runtime_settings.h: which OpenBLAS core to force, against hand-picked cases.
#include "semfield/core/runtime_settings.h"

#include <gtest/gtest.h>

namespace semfield {
namespace {

TEST(OpenblasCoretype, TheGenericFallbackIsReplacedByTheBestKernelsTheCpuRuns) {
  // Debian 12's OpenBLAS 0.3.21 on an Intel Emerald Rapids: "Prescott" (SSE3) kernels on an AVX-512 CPU.
  EXPECT_EQ(openblas_coretype_override("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(openblas_coretype_override("Prescott", false, true), "Haswell");
  EXPECT_EQ(openblas_coretype_override("Nehalem", false, true), "Haswell");
  EXPECT_EQ(openblas_coretype_override("Sandybridge", true, true), "SkylakeX");
  // An AVX2 core on an AVX-512 CPU (e.g. "Zen" on a Zen 4 / 5) gets the AVX-512 kernels.
  EXPECT_EQ(openblas_coretype_override("Zen", true, true), "SkylakeX");
  EXPECT_EQ(openblas_coretype_override("Haswell", true, true), "SkylakeX");
}

TEST(OpenblasCoretype, AGoodOrUnknownChoiceIsKept) {
  EXPECT_EQ(openblas_coretype_override("SkylakeX", true, true), "");
  EXPECT_EQ(openblas_coretype_override("Cooperlake", true, true), "");
  EXPECT_EQ(openblas_coretype_override("SapphireRapids", true, true), "");
  EXPECT_EQ(openblas_coretype_override("Haswell", false, true), "");
  EXPECT_EQ(openblas_coretype_override("Zen", false, true), "");
  // A CPU without AVX2 keeps whatever OpenBLAS chose; so does a name this table does not know (a newer core).
  EXPECT_EQ(openblas_coretype_override("Prescott", false, false), "");
  EXPECT_EQ(openblas_coretype_override("Neoverse", true, true), "");
  EXPECT_EQ(openblas_coretype_override("", true, true), "");
}

}  // namespace
}  // namespace semfield
