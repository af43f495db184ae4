// runtime_settings.h: which OpenBLAS core to force, against hand-picked cases; which settings are set.
#include "semfield/core/runtime_settings.h"

#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "support/test_support.h"

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

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// The launcher's and the CLI's shared step: each setting is set only where the environment lacks it.
TEST(RuntimeSettings, SetsWhatTheEnvironmentLacksAndKeepsTheUsersChoice) {
  const test::ScopedEnv wait_policy("OMP_WAIT_POLICY", "ACTIVE");  // the user's choice
  const test::ScopedEnv thread_timeout("OPENBLAS_THREAD_TIMEOUT", std::nullopt);
  test::ScopedEnv coretype("OPENBLAS_CORETYPE", std::nullopt);
  EXPECT_TRUE(set_runtime_settings("Prescott"));
  EXPECT_EQ(env_or_empty("OMP_WAIT_POLICY"), "ACTIVE");
  EXPECT_EQ(env_or_empty("OPENBLAS_THREAD_TIMEOUT"), "4");
  EXPECT_EQ(env_or_empty("OPENBLAS_CORETYPE"),
            openblas_coretype_override("Prescott", cpu_has_avx512(), cpu_has_avx2_fma()));
  EXPECT_FALSE(set_runtime_settings("Prescott"));  // nothing left to set: the CLI does not re-execute
  // A core the user forced stays, whatever OpenBLAS chose.
  coretype.set("Prescott");
  EXPECT_FALSE(set_runtime_settings("Prescott"));
  EXPECT_EQ(env_or_empty("OPENBLAS_CORETYPE"), "Prescott");
}

}  // namespace
}  // namespace semfield
