// End-to-end tests of `semfield synth`: generate a scene, describe it with `semfield info`, load it back.
#include <cmath>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using semfield::test::run_cli;
using semfield::test::TempDir;
using ::testing::HasSubstr;

TEST(SynthCommand, GeneratesASceneThatInfoAndTheLoaderRead) {
  TempDir tmp;
  const fs::path dir = tmp / "scene";
  const auto synth = run_cli("synth --out '" + dir.string() + "' --objects 3 --views 6 --res 32 --seed 2");
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  EXPECT_THAT(synth.output, HasSubstr(dir.string() + ": seed 2, 3 objects ("));
  EXPECT_THAT(synth.output, HasSubstr("6 train + 4 test views at 32x32"));

  const auto info = run_cli("info --data '" + dir.string() + "' --json");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const nlohmann::json report = nlohmann::json::parse(info.output.substr(info.output.find('{')));
  EXPECT_EQ(report["format"], "semfield-synth");
  EXPECT_EQ(report["views"]["total"], 10);
  EXPECT_EQ(report["views"]["train"], 6);
  EXPECT_EQ(report["views"]["test"], 4);
  EXPECT_EQ(report["resolutions"][0]["width"], 32);
  EXPECT_EQ(report["resolutions"][0]["height"], 32);
  EXPECT_EQ(report["extras"]["depth"], 10);
  EXPECT_EQ(report["extras"]["instance"], 10);
  EXPECT_EQ(report["extras"]["semantic"], 10);
  EXPECT_EQ(report["labels"]["instances"], 4);  // ground + 3 objects
  EXPECT_EQ(report["labels"]["classes"], 10);

  const semfield::Scene scene = semfield::load_scene(dir);
  EXPECT_EQ(scene.format, "semfield-synth");
  ASSERT_EQ(scene.count(semfield::Split::Train), 6u);
  ASSERT_EQ(scene.count(semfield::Split::Test), 4u);
  EXPECT_EQ(scene.instance_labels.size(), 4u);
  EXPECT_EQ(scene.instance_labels.at(1).name, "ground");
  EXPECT_EQ(scene.semantic_labels.at(0).name, "void");
  // NeRF-synthetic normalisation: instant-ngp's 0.33 / 0.5 mapped to [-1, 1] is p_n = 0.66 p.
  EXPECT_NEAR(scene.normalization.scale, 0.66, 1e-12);

  int covered = 0, checked = 0;
  for (const semfield::View& view : scene.views) {
    ASSERT_EQ(view.rgb.width, 32);
    ASSERT_EQ(view.rgb.height, 32);
    ASSERT_EQ(view.rgb.channels, 4);
    ASSERT_TRUE(view.depth && view.instance && view.semantic) << view.name;
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const int id = static_cast<int>(view.instance->at(x, y));
        EXPECT_EQ(view.rgb.at(x, y, 3) == 0.0f, id == 0);
        if (id == 0) continue;
        ++covered;
        const auto& label = scene.instance_labels.at(id);
        EXPECT_EQ(static_cast<int>(view.semantic->at(x, y)), label.class_id);
        // Depth and cameras are in the normalised frame; the label boxes in the file's world frame.
        const semfield::Ray ray = view.camera.pixel_to_ray(x + 0.5, y + 0.5);
        const Eigen::Vector3d p_n =
            ray.origin + ray.direction * (view.depth->at(x, y) / ray.direction.dot(view.camera.forward()));
        ASSERT_TRUE(label.bbox.has_value());
        const Eigen::Vector3d p = scene.normalization.invert(p_n);
        const Eigen::AlignedBox3d box(label.bbox->min().array() - 3e-3, label.bbox->max().array() + 3e-3);
        EXPECT_TRUE(box.contains(p)) << view.name << " (" << x << "," << y << ") id " << id;
        ++checked;
      }
  }
  EXPECT_GT(covered, 10 * 32 * 32 / 5);
  EXPECT_EQ(checked, covered);
}

TEST(SynthCommand, SeveralScenesAndOptionErrors) {
  TempDir tmp;
  const auto many = run_cli("synth --out '" + tmp.path().string() + "' --objects 1 --views 1 --res 8 --scenes 2 --seed 5");
  ASSERT_EQ(many.exit_code, 0) << many.output;
  EXPECT_THAT(many.output, HasSubstr("scene_000: seed 5, 1 objects"));
  EXPECT_THAT(many.output, HasSubstr("scene_001: seed 6, 1 objects"));
  EXPECT_TRUE(fs::is_regular_file(tmp / "scene_001" / "transforms_test.json"));

  // Every message is unit-tested (SynthScene.ValidationNamesTheOption); here: the CLI's exit code and line.
  const std::string out = " --out '" + (tmp / "bad").string() + "'";
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--objects 21", "error: --objects: expected 1..20, got 21"},
           {"--res 4", "error: --res: expected 8..4096, got 4"}}) {
    const auto result = run_cli("synth" + out + " " + args);
    EXPECT_EQ(result.exit_code, 1) << args;
    EXPECT_THAT(result.output, HasSubstr(message));
  }
  EXPECT_FALSE(fs::exists(tmp / "bad"));
  EXPECT_NE(run_cli("synth --objects 2").exit_code, 0);  // --out is required
}

}  // namespace
