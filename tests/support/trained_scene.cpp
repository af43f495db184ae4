// The end-to-end tests' shared trained scene (see trained_scene.h).
#include "support/trained_scene.h"

#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace semfield::test {

namespace fs = std::filesystem;

namespace {

int64_t metrics_step(const fs::path& metrics) {
  std::ifstream in(metrics);
  if (!in) return -1;
  const nlohmann::json m = nlohmann::json::parse(in, nullptr, false);
  return m.is_object() && m.contains("step") ? m["step"].get<int64_t>() : -1;
}

int64_t scaled_steps(int64_t steps) {
  const char* env = std::getenv("SEMFIELD_E2E_STEP_FRACTION");
  if (env == nullptr || *env == '\0') return steps;
  const double fraction = std::atof(env);
  if (!(fraction > 0.0 && fraction <= 1.0)) throw std::runtime_error("SEMFIELD_E2E_STEP_FRACTION must be in (0, 1]");
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(steps) * fraction + 0.5));
}

// The file whose presence says the fixture finished: written last.
constexpr const char* kStamp = "fixture_complete.json";

}  // namespace

int64_t train_steps() { return scaled_steps(400); }
int64_t label_steps() { return scaled_steps(200); }
int64_t descriptor_steps() { return scaled_steps(300); }

bool build_trained_scene(const fs::path& dir) {
  remove_tree(dir);
  fs::create_directories(dir);
  const fs::path scene = dir / "scene", run = dir / "run";
  struct Stage {
    const char* name;  ///< also the log's name
    std::string args;
    fs::path metrics;  ///< empty: no step count to check
    int64_t steps;
  };
  write_text(dir / "config.json", R"({"train": {"target_samples": 65536}})");
  const Stage stages[] = {
      {"synth", "synth --out " + quoted(scene) + " --res 64 --views 24 --objects 4 --seed 3", {}, 0},
      {"train",
       "train --data " + quoted(scene) + " --out " + quoted(run) + " --steps " + std::to_string(train_steps()) +
           " --config " + quoted(dir / "config.json"),
       run / "eval" / "metrics.json", train_steps()},
      {"labels",
       "distill --run " + quoted(run) + " --teacher labels:instance --steps " + std::to_string(label_steps()),
       run / "distill" / "labels-instance" / "eval" / "metrics.json", label_steps()},
      {"descriptor",
       "distill --run " + quoted(run) + " --teacher descriptor --steps " + std::to_string(descriptor_steps()),
       run / "distill" / "descriptor" / "eval" / "metrics.json", descriptor_steps()},
  };
  for (const Stage& stage : stages) {
    const CommandResult r = run_cli(stage.args);
    write_text(dir / "logs" / (std::string(stage.name) + ".log"), r.output);
    EXPECT_EQ(r.exit_code, 0) << stage.name << ":\n" << r.output;
    if (r.exit_code != 0) return false;
    if (!stage.metrics.empty()) {
      // Trained by step count: every stage reaches exactly its steps, however loaded the machine is.
      const int64_t step = metrics_step(stage.metrics);
      EXPECT_EQ(step, stage.steps) << stage.name << " stopped early (" << stage.metrics << ")";
      if (step != stage.steps) return false;
    }
  }
  write_text(dir / kStamp, nlohmann::json{{"train_steps", train_steps()},
                                          {"label_steps", label_steps()},
                                          {"descriptor_steps", descriptor_steps()}}.dump());
  return true;
}

TrainedScene trained_scene(const TempDir& into) {
  fs::path fixture;
  if (const char* env = std::getenv("SEMFIELD_E2E_FIXTURE"); env != nullptr && *env != '\0') {
    fixture = env;
    EXPECT_TRUE(fs::exists(fixture / kStamp))
        << "the e2e fixture " << fixture << " is incomplete: its setup test (ctest -R e2e_fixture) failed";
  } else {
    fixture = into / "fixture";
    build_trained_scene(fixture);
  }
  TrainedScene out{fixture / "scene", into / "run", fixture / "logs"};
  std::error_code ec;
  fs::copy(fixture / "run", out.run, fs::copy_options::recursive, ec);
  EXPECT_FALSE(ec) << "copying " << (fixture / "run") << ": " << ec.message();
  return out;
}

}  // namespace semfield::test
