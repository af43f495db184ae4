// End to end: the trained scene's radiance field through the CLI: its quality, render, evaluate, resume, and
// reject corrupted checkpoints.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "support/trained_scene.h"

namespace fs = std::filesystem;
using semfield::test::CommandResult;
using semfield::test::run_cli;
using ::testing::HasSubstr;

namespace {

// One test, run in sequence on a copy of the trained scene (support/trained_scene.h): each stage is a SCOPED_TRACE so
// a failure says which one broke.
TEST(TrainedSceneTrain, RenderEvalResumeAndCorruption) {
  semfield::test::TempDir dir;
  const semfield::test::TrainedScene trained = semfield::test::trained_scene(dir);
  const fs::path scene = trained.scene, run = trained.run;
  auto metrics = [&] {
    std::ifstream in(run / "eval" / "metrics.json");
    return nlohmann::json::parse(in);
  };
  CommandResult r;

  {
    SCOPED_TRACE("the trained field");
    for (const char* f : {"config.json", "checkpoint.ckpt", "progress.jsonl", "eval/metrics.json"})
      EXPECT_TRUE(fs::exists(run / f)) << f;
    const auto m = metrics();
    EXPECT_EQ(m["step"].get<int64_t>(), semfield::test::train_steps());
    // On these test views (composited on white) an all-white prediction scores ~11 dB and the mean colour
    // ~15 dB. The fixture's 400 steps measured 28.11 dB and SSIM 0.9565 (the same in repeated runs: training by
    // step count is deterministic here); the bounds sit 2 dB / 0.02 below. Half the steps measured 25.24 dB and
    // SSIM 0.908, and fail both.
    EXPECT_GT(m["psnr"].get<double>(), 26.1) << m.dump();
    EXPECT_GT(m["ssim"].get<double>(), 0.935) << m.dump();
    ASSERT_EQ(m["views"].size(), 4u);
    // 24 training views r_0..r_23, so the first test view is r_24.
    EXPECT_EQ(m["views"][0]["name"], "r_24");
    EXPECT_TRUE(fs::exists(run / "eval" / "r_24.png"));
    EXPECT_TRUE(fs::exists(run / "eval" / "r_24_depth.png"));
  }
  const double trained_psnr = metrics()["psnr"].get<double>();
  const int64_t trained_steps = metrics()["step"].get<int64_t>();

  {
    SCOPED_TRACE("render");
    const fs::path out = dir / "renders";
    r = run_cli("render --run '" + run.string() + "' --split test --out '" + out.string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(out / "r_24.png"));
    EXPECT_TRUE(fs::exists(out / "r_24_depth.png"));
    EXPECT_TRUE(fs::exists(out / "r_24_opacity.png"));
    r = run_cli("render --run '" + run.string() + "' --orbit 2 --out '" + out.string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(out / "orbit_001.png"));
    r = run_cli("render --run '" + run.string() + "' --out '" + out.string() + "'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("exactly one of --split or --orbit"));
  }

  {
    SCOPED_TRACE("eval on a folder of held-out frames");
    const fs::path held = dir / "held_out";
    fs::create_directories(held);
    fs::copy(scene / "test", held / "test", fs::copy_options::recursive);
    fs::copy_file(scene / "transforms_test.json", held / "transforms_test.json");
    r = run_cli("eval --run '" + run.string() + "' --data '" + held.string() + "' --no-images");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NEAR(metrics()["psnr"].get<double>(), trained_psnr, 1e-3);
  }

  {
    SCOPED_TRACE("resume");
    const fs::path copy = dir / "run_copy";
    fs::copy(run, copy, fs::copy_options::recursive);
    r = run_cli("train --data '" + scene.string() + "' --out '" + copy.string() + "' --steps " +
                std::to_string(trained_steps + 20) + " --resume");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("from step " + std::to_string(trained_steps)));
    EXPECT_THAT(r.output, HasSubstr("trained 20 steps"));
  }

  {
    SCOPED_TRACE("corrupted checkpoints");
    const fs::path bad = dir / "run_bad";
    fs::copy(run, bad, fs::copy_options::recursive);
    const fs::path ckpt = bad / "checkpoint.ckpt";
    fs::resize_file(ckpt, fs::file_size(ckpt) / 2);
    r = run_cli("eval --run '" + bad.string() + "'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("checkpoint.ckpt"));
    EXPECT_THAT(r.output, HasSubstr("truncated"));
    semfield::test::write_text(ckpt, "PK\x03\x04 this is a zip, not a checkpoint");
    r = run_cli("render --run '" + bad.string() + "' --split test --out '" + (bad / "r").string() + "'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("not a semfield checkpoint"));
    r = run_cli("eval --run '" + (dir / "nope").string() + "'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("run folder not found"));
  }
}

// A capture larger than a (tiny) image-memory cap trains from a rotating subset of its views without exceeding the
// cap, evaluates its test views decoded one at a time, and still learns the scene.
TEST(LongTrainCommand, TrainsUnderAnImageMemoryCap) {
  semfield::test::TempDir dir;
  const fs::path scene = dir / "scene", run = dir / "run";
  CommandResult r = run_cli("synth --out '" + scene.string() + "' --views 16 --res 48 --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const int64_t view_bytes = 48 * 48 * 4, cap = 4 * view_bytes + 100;  // room for 4 of the 16 views
  r = run_cli("--threads 2 train --data '" + scene.string() + "' --out '" + run.string() +
              "' --steps 200 --eval-interval 0 --image-memory " + std::to_string(cap / 1e9));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("a rotating subset of 4 views (at most 36.9 kB), 1 replaced every 10 steps"));
  std::ifstream in(run / "eval" / "metrics.json");
  const auto metrics = nlohmann::json::parse(in);
  EXPECT_EQ(metrics["image_memory"]["views"].get<int>(), 16);
  EXPECT_EQ(metrics["image_memory"]["resident_views"].get<int>(), 4);
  EXPECT_GT(metrics["image_memory"]["peak_bytes"].get<int64_t>(), 0);
  EXPECT_LE(metrics["image_memory"]["peak_bytes"].get<int64_t>(), cap);
  // Measured 27.08 dB on the test views, against 27.87 dB with every view resident and 17.65 dB when the subset
  // rotated ten times slower (every 100 steps: 6 of the 16 views seen).
  EXPECT_GT(metrics["psnr"].get<double>(), 25.0);
  // A cap below one view is refused with the way out.
  r = run_cli("train --data '" + scene.string() + "' --out '" + (dir / "run2").string() + "' --image-memory 0.000001");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("smaller than one training view"));
  r = run_cli("train --data '" + scene.string() + "' --out '" + (dir / "run2").string() + "' --image-memory lots");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--image-memory"));
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
