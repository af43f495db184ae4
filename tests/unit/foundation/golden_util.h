// Golden-vector helpers for the foundation-model tests: locating files (repository copy first, then
// ../shared/golden), loading .npy as tensors, and the per-tensor tolerance of the golden README.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "support/test_support.h"

namespace semfield::test {

/// tests/data/golden/<model>/<name> if present, else <shared>/golden/<model>/<name>, else nullopt.
std::optional<std::filesystem::path> golden_path(const std::string& model, const std::string& name);

/// The golden file as a tensor; GTEST_SKIP-able: returns an undefined tensor when absent.
at::Tensor golden_tensor(const std::string& model, const std::string& name);

/// A golden PNG as a uint8 tensor [H, W, C] (the models' image input).
at::Tensor golden_image_uint8(const std::string& model, const std::string& name);

/// Tolerance of the golden README: max|got - ref| <= max(2e-5 * max|ref|, 3 * fp64 diff), where the fp64 diff
/// is numerics_fp64.json[fp64_key].max_abs_diff when listed (0 otherwise). Shapes must match exactly.
/// Records "<model>/<name>: max rel err" as a test property and on stdout; returns the relative error
/// max|got - ref| / max|ref|.
double expect_golden(const std::string& model, const std::string& name, const at::Tensor& got,
                     const std::string& fp64_key = "");

}  // namespace semfield::test

/// Skips the test when a golden file is absent (neither copied into the repository nor in ../shared), or fails
/// it when SEMFIELD_REQUIRE_SHARED=1 (.ci/run), so that a missing shared folder never passes silently.
#define SEMFIELD_REQUIRE_GOLDEN(model, name)                                                              \
  do {                                                                                                    \
    if (!::semfield::test::golden_path(model, name)) {                                                    \
      if (::semfield::test::shared_required())                                                            \
        FAIL() << "golden file " << model << "/" << name << " not found and SEMFIELD_REQUIRE_SHARED=1";   \
      GTEST_SKIP() << "golden file " << model << "/" << name << " not found in tests/data/golden or "     \
                   << "../shared/golden";                                                                 \
    }                                                                                                     \
  } while (0)
