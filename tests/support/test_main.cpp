// The main() of every test executable: set up the process as the CLI does (runtime_settings.h: idle threads sleep,
// OpenBLAS kernels that fit the CPU), then run the Google Test cases.
#include <gtest/gtest.h>

#include "semfield/core/runtime_settings.h"

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
