// The trained scene the end-to-end tests start from: generated, trained and distilled once per CTest run by the
// `e2e_fixture` test (a FIXTURES_SETUP, tests/CMakeLists.txt), then copied by every test that needs it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace semfield::test {

/// What the fixture makes, by step count (never by a time budget, so a loaded machine trains the same field):
/// `synth --res 64 --views 24 --objects 4 --seed 3`, a radiance field of train_steps() steps at 2^16 samples per
/// step, an instance-label field of label_steps() and a descriptor field of descriptor_steps() on it: 400, 200 and
/// 300 steps. SEMFIELD_E2E_STEP_FRACTION=F (0 < F <= 1) trains F of each instead: the deliberate regression that
/// checks the tests' thresholds (docs/testing.md), never set otherwise.
int64_t train_steps();
int64_t label_steps();
int64_t descriptor_steps();

struct TrainedScene {
  std::filesystem::path scene;  ///< the generated scene folder (shared between tests: read it, never write to it)
  std::filesystem::path run;    ///< a private copy of the run folder (radiance field + labels-instance + descriptor)
  std::filesystem::path logs;   ///< what each stage printed: synth.log, train.log, labels.log, descriptor.log
};

/// Generates, trains and distills the scene into `dir` (made empty first) with the CLI, and checks that every
/// stage exited 0 and reached its step count; failures are gtest failures naming the stage and its output.
/// Returns false (with the failure recorded) when a stage failed.
bool build_trained_scene(const std::filesystem::path& dir);

/// The trained scene for one test: the scene of $SEMFIELD_E2E_FIXTURE (set by CTest for tests that require the
/// fixture) with a copy of its run in `into`/run. Without the variable (a test binary run by hand) the scene is
/// built in `into` first. Fails the test when the fixture is missing or incomplete.
TrainedScene trained_scene(const TempDir& into);

}  // namespace semfield::test
