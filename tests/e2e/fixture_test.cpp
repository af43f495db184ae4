// The `e2e_fixture` CTest fixture (tests/CMakeLists.txt): builds the trained scene the end-to-end tests copy
// (support/trained_scene.h) into $SEMFIELD_E2E_FIXTURE, checking that every stage reached its step count. Run by
// hand (no variable), it builds one in a temporary folder as a check of its own.
#include <cstdlib>

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "support/trained_scene.h"

namespace {

TEST(E2eFixture, BuildsTheTrainedScene) {
  if (const char* dir = std::getenv("SEMFIELD_E2E_FIXTURE"); dir != nullptr && *dir != '\0') {
    EXPECT_TRUE(semfield::test::build_trained_scene(dir));
  } else {
    semfield::test::TempDir tmp;
    EXPECT_TRUE(semfield::test::build_trained_scene(tmp / "fixture"));
  }
}

}  // namespace
