// End to end: generate a small scene, train a radiance field through the CLI, render, evaluate, resume,
// and reject corrupted checkpoints.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace fs = std::filesystem;
using semfield::test::run_cli;
using ::testing::HasSubstr;

namespace {

class TrainRenderEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new semfield::test::TempDir();
    const auto synth = run_cli("synth --out '" + scene().string() + "' --res 64 --views 24 --objects 4 --seed 3");
    ASSERT_EQ(synth.exit_code, 0) << synth.output;
    // 600 steps take ~20-40 s on 2 cores; the time budget only guards slow machines.
    s_train = new semfield::test::CommandResult(
        run_cli("train --data '" + scene().string() + "' --out '" + run().string() +
                "' --steps 600 --time-budget 120"));
  }
  static void TearDownTestSuite() {
    delete s_train;
    delete s_dir;
  }
  static fs::path scene() { return s_dir->path() / "scene"; }
  static fs::path run() { return s_dir->path() / "run"; }
  static nlohmann::json metrics() {
    std::ifstream in(run() / "eval" / "metrics.json");
    return nlohmann::json::parse(in);
  }
  static semfield::test::TempDir* s_dir;
  static semfield::test::CommandResult* s_train;
};

semfield::test::TempDir* TrainRenderEval::s_dir = nullptr;
semfield::test::CommandResult* TrainRenderEval::s_train = nullptr;

TEST_F(TrainRenderEval, TrainingReachesAUsefulPsnr) {
  ASSERT_EQ(s_train->exit_code, 0) << s_train->output;
  for (const char* f : {"config.json", "checkpoint.ckpt", "progress.jsonl", "eval/metrics.json"})
    EXPECT_TRUE(fs::exists(run() / f)) << f;
  const auto m = metrics();
  // The generated scene's test views composited on white score ~11 dB for an all-white prediction and
  // ~15 dB for the mean colour; a field that has learned geometry and texture is far above that. 600 steps
  // on 64x64 reach ~27-30 dB here; 22 dB leaves room for thread-count nondeterminism.
  EXPECT_GT(m["psnr"].get<double>(), 22.0) << m.dump();
  EXPECT_GT(m["ssim"].get<double>(), 0.75) << m.dump();
  EXPECT_EQ(m["views"].size(), 4u);
  EXPECT_TRUE(fs::exists(run() / "eval" / (m["views"][0]["name"].get<std::string>() + ".png")));
}

TEST_F(TrainRenderEval, RenderSplitAndOrbit) {
  ASSERT_EQ(s_train->exit_code, 0) << s_train->output;
  const fs::path out = s_dir->path() / "renders";
  auto r = run_cli("render --run '" + run().string() + "' --split test --out '" + out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "r_0.png"));
  EXPECT_TRUE(fs::exists(out / "r_0_depth.png"));
  EXPECT_TRUE(fs::exists(out / "r_0_opacity.png"));
  r = run_cli("render --run '" + run().string() + "' --orbit 2 --out '" + out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "orbit_001.png"));
  r = run_cli("render --run '" + run().string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("exactly one of --split or --orbit"));
}

TEST_F(TrainRenderEval, EvalOnHeldOutFolderMatchesTrainingEval) {
  ASSERT_EQ(s_train->exit_code, 0) << s_train->output;
  const double trained_psnr = metrics()["psnr"].get<double>();
  // A folder holding only the held-out frames (and their images), as a user would pass with --data.
  const fs::path held = s_dir->path() / "held_out";
  fs::create_directories(held);
  fs::copy(scene() / "test", held / "test", fs::copy_options::recursive);
  fs::copy_file(scene() / "transforms_test.json", held / "transforms_test.json");
  const auto r = run_cli("eval --run '" + run().string() + "' --data '" + held.string() + "' --no-images");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NEAR(metrics()["psnr"].get<double>(), trained_psnr, 1e-3);
}

TEST_F(TrainRenderEval, ResumeContinuesFromTheCheckpoint) {
  ASSERT_EQ(s_train->exit_code, 0) << s_train->output;
  const fs::path copy = s_dir->path() / "run_copy";
  fs::copy(run(), copy, fs::copy_options::recursive);
  const auto r = run_cli("train --data '" + scene().string() + "' --out '" + copy.string() +
                         "' --steps 650 --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("resuming"));
  EXPECT_THAT(r.output, HasSubstr("from step 600"));
  EXPECT_THAT(r.output, HasSubstr("trained 50 steps"));
}

TEST_F(TrainRenderEval, CorruptedCheckpointsGiveClearErrors) {
  ASSERT_EQ(s_train->exit_code, 0) << s_train->output;
  const fs::path bad = s_dir->path() / "run_bad";
  fs::copy(run(), bad, fs::copy_options::recursive);
  const fs::path ckpt = bad / "checkpoint.ckpt";
  fs::resize_file(ckpt, fs::file_size(ckpt) / 2);
  auto r = run_cli("eval --run '" + bad.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("checkpoint.ckpt"));
  EXPECT_THAT(r.output, HasSubstr("truncated"));

  semfield::test::write_text(ckpt, "PK\x03\x04 this is a zip, not a checkpoint");
  r = run_cli("render --run '" + bad.string() + "' --split test --out '" + (bad / "r").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("not a semfield checkpoint"));

  r = run_cli("eval --run '" + (s_dir->path() / "nope").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("run folder not found"));
}

TEST(TrainCommand, BadInputsExitNonZeroWithAMessage) {
  semfield::test::TempDir dir;
  auto r = run_cli("train --data '" + (dir / "missing").string() + "' --out '" + (dir / "run").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("error:"));
  semfield::test::write_text(dir / "cfg.json", R"({"train": {"stpes": 3}})");
  r = run_cli("train --data '" + (dir / "missing").string() + "' --out '" + (dir / "run").string() +
              "' --config '" + (dir / "cfg.json").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("train.stpes: unknown key"));
}

}  // namespace
