// End-to-end tests of `semfield info`: text and JSON reports of a tiny scene, warnings, and clear errors.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "unit/data/ring_scene.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using semfield::test::matrix_json;
using semfield::test::run_cli;
using semfield::test::TempDir;
using semfield::test::translation;
using semfield::test::write_test_png;
using semfield::test::write_text;
using ::testing::HasSubstr;
using ::testing::Not;

// NeRF-synthetic layout: train r_0..r_2 (r_0 with a mask), test r_3; 8x6 images; labels.json.
void write_scene(const fs::path& dir) {
  std::string train, test;
  for (int i = 0; i < 4; ++i) {
    const std::string split = i < 3 ? "train" : "test";
    write_test_png(dir / split / fmt::format("r_{}.png", i), 8, 6, 4);
    const std::string frame = fmt::format(R"({{"file_path": "./{}/r_{}", "transform_matrix": {}{}}})", split, i,
                                          matrix_json(translation(i, 0, 4)),
                                          i == 0 ? R"(, "mask_path": "./train/r_0_mask.png")" : "");
    std::string& list = i < 3 ? train : test;
    list += (list.empty() ? "" : ", ") + frame;
  }
  write_test_png(dir / "train" / "r_0_mask.png", 8, 6, 1);
  write_text(dir / "transforms_train.json", R"({"camera_angle_x": 0.8, "frames": [)" + train + "]}");
  write_text(dir / "transforms_test.json", R"({"camera_angle_x": 0.8, "frames": [)" + test + "]}");
  write_text(dir / "labels.json", R"({"classes": [{"id": 0, "name": "void"}], "instances": [{"id": 1}]})");
}

TEST(InfoCommand, TextReport) {
  TempDir dir;
  write_scene(dir.path());
  const auto result = run_cli("info --data '" + dir.path().string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("format       blender"));
  EXPECT_THAT(result.output, HasSubstr("views        4 (train 3, val 0, test 1)"));
  EXPECT_THAT(result.output, HasSubstr("resolution   8x6 (all views)"));
  EXPECT_THAT(result.output, HasSubstr(fmt::format("fx {:.6g}", 4 / std::tan(0.4))));
  EXPECT_THAT(result.output, HasSubstr("same for every view"));
  EXPECT_THAT(result.output, HasSubstr("pinhole (4 views), no distortion"));
  EXPECT_THAT(result.output, HasSubstr("p_n = 0.66 * p + (0, 0, 0)"));
  // No "aabb_scale", and opaque test images seen by cameras beside the box looking straight down: rays
  // that miss [-1,1]^3 show content, so the box is inferred (tests/unit/data/scene_bounds_test.cpp).
  EXPECT_THAT(result.output, HasSubstr("(-4, -4, -4) .. (4, 4, 4) (unbounded: contents beyond it are contracted)"));
  EXPECT_THAT(result.output, HasSubstr("bounds       aabb_scale 4, inferred: content reaches "));
  EXPECT_THAT(result.output, HasSubstr("units from the centre (alpha of 4 views)"));
  EXPECT_THAT(result.output, HasSubstr("views with depth 0, mask 1, instance 0, semantic 0"));
  EXPECT_THAT(result.output, HasSubstr("1 instances, 1 classes"));
}

TEST(InfoCommand, JsonReportWithDownscaleAndSplitRule) {
  TempDir dir;
  write_scene(dir.path());
  const auto result =
      run_cli("--log-level error info --data '" + dir.path().string() + "' --downscale 2 --split-rule every:2 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json info = nlohmann::json::parse(result.output);  // nothing but the JSON object
  EXPECT_EQ(info["format"], "blender");
  EXPECT_EQ(info["views"]["total"], 4);
  EXPECT_EQ(info["views"]["test"], 2);  // every:2 re-splits views 0 and 2 into test
  EXPECT_EQ(info["resolutions"][0]["width"], 4);
  EXPECT_EQ(info["resolutions"][0]["height"], 3);
  EXPECT_NEAR(info["intrinsics"]["fx"].get<double>(), 2 / std::tan(0.4), 1e-9);
  EXPECT_EQ(info["intrinsics"]["varies"], false);
  EXPECT_EQ(info["camera_models"]["pinhole"], 4);
  EXPECT_NEAR(info["normalization"]["scale"].get<double>(), 0.66, 1e-12);
  EXPECT_EQ(info["unbounded"], true);  // as in TextReport
  EXPECT_EQ(info["bounds"]["source"], "alpha");
  EXPECT_EQ(info["bounds"]["aabb_scale"], 4);
  EXPECT_EQ(info["files"]["checked"], "decoded");
  EXPECT_EQ(info["extras"]["mask"], 1);
  EXPECT_EQ(info["labels"]["instances"], 1);
}

TEST(InfoCommand, MissingImageWarnsAndContinues) {
  TempDir dir;
  write_scene(dir.path());
  fs::remove(dir / "train" / "r_2.png");
  const auto result = run_cli("info --data '" + dir.path().string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("frames[2]: image './train/r_2' not found"));
  EXPECT_THAT(result.output, HasSubstr("views        3 (train 2, val 0, test 1)"));
  EXPECT_THAT(result.output, HasSubstr("cameras      1 more without an image (targets for render and transfer only)"));
}

TEST(InfoCommand, KeyBackdropReportsWhatApplyWouldSee) {
  // The same ring of views rendered with alpha and as RGB on white: keyed, the RGB scene reports the alpha scene's box.
  TempDir with_alpha, on_white;
  semfield::test::RingScene ring;
  ring.spheres = {{Eigen::Vector3d::Zero(), 1.0}};
  ring.n_views = 4;
  ring.size = 32;
  semfield::test::write_ring_scene(with_alpha.path(), ring);
  ring.background = semfield::test::RingScene::Background::White;
  semfield::test::write_ring_scene(on_white.path(), ring);
  const auto info_of = [](const fs::path& dir, const std::string& flags) {
    const auto r = run_cli("--log-level error info --data '" + dir.string() + "' --json" + flags);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output);
  };
  const nlohmann::json truth = info_of(with_alpha.path(), ""), plain = info_of(on_white.path(), "");
  const nlohmann::json keyed = info_of(on_white.path(), " --key-backdrop");
  EXPECT_FALSE(plain.contains("key_backdrop"));
  // Unkeyed, the bounds come from the background colour; keyed, from alpha, as the scene rendered with alpha.
  EXPECT_EQ(plain["bounds"]["source"], "background");
  EXPECT_EQ(truth["bounds"]["source"], "alpha");
  EXPECT_EQ(keyed["bounds"], truth["bounds"]);
  EXPECT_EQ(keyed["aabb"], truth["aabb"]);
  EXPECT_EQ(keyed["key_backdrop"]["keyed"], 4);
  EXPECT_EQ(keyed["key_backdrop"]["own_alpha"], 0);
  EXPECT_EQ(keyed["key_backdrop"]["unchanged"], 0);
  EXPECT_EQ(keyed["key_backdrop"]["views"], 4);
  const int train = keyed["views"]["train"].get<int>();
  EXPECT_EQ(keyed["key_backdrop"]["train"]["keyed"], train);
  EXPECT_EQ(keyed["key_backdrop"]["train"]["views"], train);
  // Images with alpha of their own are counted as such, not as keyed.
  const nlohmann::json own = info_of(with_alpha.path(), " --key-backdrop");
  EXPECT_EQ(own["key_backdrop"]["keyed"], 0);
  EXPECT_EQ(own["key_backdrop"]["own_alpha"], 4);
  const auto text = run_cli("info --data '" + on_white.path().string() + "' --key-backdrop");
  EXPECT_THAT(text.output, HasSubstr(fmt::format("key          --key-backdrop: 4 of 4 views keyed ({} of the {} train "
                                                 "views), 0 with alpha of their own, 0 unchanged (no uniform backdrop)",
                                                 train, train)));
  // Headers only: nothing counted, but the box is still inferred from the keyed sample images.
  const auto quick = run_cli("info --data '" + on_white.path().string() + "' --key-backdrop --quick");
  EXPECT_EQ(quick.exit_code, 0) << quick.output;
  EXPECT_THAT(quick.output, HasSubstr("headers only, so the views the key takes on are not counted"));
  const nlohmann::json quick_json = info_of(on_white.path(), " --key-backdrop --quick");
  EXPECT_FALSE(quick_json.contains("key_backdrop"));
  EXPECT_EQ(quick_json["bounds"], truth["bounds"]);
}

TEST(InfoCommand, ClearErrorsAndNonZeroExit) {
  TempDir dir;
  const auto missing = run_cli("info --data '" + (dir / "no_such_scene").string() + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("error: " + (dir / "no_such_scene").string() + ": no such file or folder"));
  const auto empty = run_cli("info --data '" + dir.path().string() + "'");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_THAT(empty.output, HasSubstr("no scene found"));
  write_scene(dir.path());
  const auto bad_rule = run_cli("info --data '" + dir.path().string() + "' --split-rule every:x");
  EXPECT_EQ(bad_rule.exit_code, 1);
  EXPECT_THAT(bad_rule.output, HasSubstr("every:N needs an integer N >= 2"));
  write_text(dir / "transforms_test.json", R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./test/r_3"}]})");
  const auto malformed = run_cli("info --data '" + dir.path().string() + "'");
  EXPECT_EQ(malformed.exit_code, 1);
  EXPECT_THAT(malformed.output, HasSubstr("transforms_test.json: frames[0].transform_matrix: missing required key"));
}

TEST(InfoCommand, ReportsTheInferredBoxAndWhy) {
  // Content reaching 5 world units (3.3 normalised) seen with depth from cameras 6 units out.
  TempDir dir;
  semfield::test::RingScene ring;
  ring.spheres = {{Eigen::Vector3d::Zero(), 1.0}, {Eigen::Vector3d(4, 0, 0), 1.0}};
  ring.depth = true;
  semfield::test::write_ring_scene(dir.path(), ring);
  const auto json = run_cli("--log-level error info --data '" + dir.path().string() + "' --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json info = nlohmann::json::parse(json.output);
  EXPECT_EQ(info["bounds"]["aabb_scale"], 4);
  EXPECT_EQ(info["bounds"]["source"], "depth");
  EXPECT_EQ(info["bounds"]["evidence"], "depth");
  EXPECT_EQ(info["bounds"]["views_sampled"], 12);
  const double extent = info["bounds"]["content_extent"].get<double>();
  EXPECT_GT(extent, 3.1);
  EXPECT_LE(extent, 3.301);
  EXPECT_EQ(info["aabb"]["max"][0], 4);
  EXPECT_EQ(info["unbounded"], true);
  EXPECT_EQ(info["files"]["checked"], "decoded");
  EXPECT_EQ(info["files"]["total"], 24);  // 12 images, 12 depth maps
  EXPECT_TRUE(info["files"]["unreadable"].empty());
  const auto text = run_cli("info --data '" + dir.path().string() + "'");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr(fmt::format("bounds       aabb_scale 4, inferred: content reaches {:.3g} units from "
                                                 "the centre (depth maps of 12 views)",
                                                 extent)));
  EXPECT_THAT(text.output, HasSubstr("the file gives no \"aabb_scale\": using aabb_scale 4"));
  EXPECT_THAT(text.output, HasSubstr("files        all 24 decode"));
  // The file's own box is kept (and shown as such), with a warning.
  ring.top = R"("aabb_scale": 1)";
  semfield::test::write_ring_scene(dir.path(), ring);
  const auto kept = run_cli("info --data '" + dir.path().string() + "'");
  ASSERT_EQ(kept.exit_code, 0) << kept.output;
  EXPECT_THAT(kept.output, HasSubstr(fmt::format("bounds       aabb_scale 1 from the file; content reaches {:.3g} units "
                                                 "from the centre (depth maps of 12 views)",
                                                 extent)));
  EXPECT_THAT(kept.output, HasSubstr("rays stop at the box, so what lies beyond it cannot be learned"));
}

TEST(InfoCommand, TheBoundsLineNamesEverySource) {
  const auto bounds_line = [](const fs::path& dir) {
    const auto result = run_cli("--log-level error info --data '" + dir.string() + "'");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const size_t at = result.output.find("bounds       ");
    return at == std::string::npos ? result.output : result.output.substr(at, result.output.find('\n', at) - at);
  };
  semfield::test::RingScene ring;
  ring.spheres = {{Eigen::Vector3d::Zero(), 1.0}};
  ring.distance = 4.0;
  ring.background = semfield::test::RingScene::Background::Opaque;
  TempDir opaque, kept, empty, capture;
  semfield::test::write_ring_scene(opaque.path(), ring);
  EXPECT_EQ(bounds_line(opaque.path()),
            "bounds       aabb_scale 4, inferred: the images are opaque to their borders and there is no depth, so "
            "the background is unbounded (the box holds the cameras)");
  ring.top = R"("aabb_scale": 8)";
  semfield::test::write_ring_scene(kept.path(), ring);
  EXPECT_EQ(bounds_line(kept.path()), "bounds       aabb_scale 8 from the file; the images show an unbounded background");
  ring = semfield::test::RingScene();  // nothing in view: every pixel transparent
  semfield::test::write_ring_scene(empty.path(), ring);
  EXPECT_EQ(bounds_line(empty.path()), "bounds       aabb_scale 1 (default: no visible content to infer from)");
  // A real capture (nerfstudio) keeps its contracted space.
  for (const char* name : {"a", "b"}) write_test_png(capture / "images" / (std::string(name) + ".png"), 8, 6);
  write_text(capture / "transforms.json",
             R"({"camera_model": "PINHOLE", "fl_x": 10, "fl_y": 10, "cx": 4, "cy": 3, "w": 8, "h": 6, "frames": [)" +
                 fmt::format(R"({{"file_path": "images/a.png", "transform_matrix": {}}}, )",
                             matrix_json(translation(1, 0, 0))) +
                 fmt::format(R"({{"file_path": "images/b.png", "transform_matrix": {}}}]}})",
                             matrix_json(translation(-1, 0, 0))));
  EXPECT_EQ(bounds_line(capture.path()),
            "bounds       the contracted space around the cameras (real capture; not inferred)");
}

TEST(InfoCommand, UndecodableImagesAreListedAndExitNonZero) {
  TempDir dir;
  write_scene(dir.path());
  const fs::path truncated = dir / "train" / "r_1.png";
  fs::resize_file(truncated, fs::file_size(truncated) - 24);  // the header survives, the pixels do not
  const auto result = run_cli("info --data '" + dir.path().string() + "'");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("views        4 (train 3, val 0, test 1)"));  // the report still comes
  EXPECT_THAT(result.output, HasSubstr("files        1 of 5 cannot be used:\n             " + truncated.string() +
                                       ": truncated PNG"));
  EXPECT_THAT(result.output, HasSubstr("error: " + dir.path().string() +
                                       ": 1 file cannot be used (listed above), so training would stop; fix or "
                                       "remove it"));
  const auto json = run_cli("info --data '" + dir.path().string() + "' --json");
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.output, HasSubstr("\"path\": \"" + truncated.string() + "\""));
  EXPECT_THAT(json.output, HasSubstr("1 file cannot be used (\"files\": \"unreadable\" above)"));
  // --quick reads headers only, as info did before: the truncated file passes.
  const auto quick = run_cli("info --data '" + dir.path().string() + "' --quick");
  EXPECT_EQ(quick.exit_code, 0) << quick.output;
  EXPECT_THAT(quick.output, HasSubstr("files        5 (headers only: --quick does not decode them)"));
  // `train` rejects the same file: info and train agree.
  const auto train = run_cli("train --data '" + dir.path().string() + "' --out '" + (dir / "run").string() + "' --steps 1");
  EXPECT_EQ(train.exit_code, 1);
  EXPECT_THAT(train.output, HasSubstr("error: " + truncated.string() + ": truncated PNG"));
}

TEST(InfoCommand, ALabelsJsonInAnotherSchemaIsReportedNotFatal) {
  TempDir dir;
  write_scene(dir.path());
  write_text(dir / "labels.json", R"({"instances": {"1": "car"}})");
  const auto result = run_cli("info --data '" + dir.path().string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string problem = (dir / "labels.json").string() + ": instances: expected an array, got object";
  EXPECT_THAT(result.output, HasSubstr("labels       labels.json ignored: " + problem));
  EXPECT_THAT(result.output, HasSubstr("warning: " + problem + "; ignoring labels.json"));
  const auto json = run_cli("--log-level error info --data '" + dir.path().string() + "' --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_EQ(nlohmann::json::parse(json.output)["labels"]["error"], problem);
}

TEST(InfoCommand, Lego200) {
  const fs::path lego = semfield::test::shared_dir() / "data" / "lego_200";
  SEMFIELD_REQUIRE_SHARED_FILE(lego / "transforms_train.json");
  const auto result = run_cli("info --data '" + lego.string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("views        80 (train 70, val 0, test 10)"));
  EXPECT_THAT(result.output, HasSubstr("resolution   200x200 (all views)"));
  // lego gives no aabb_scale; its alpha keeps today's box, without a warning.
  EXPECT_THAT(result.output, HasSubstr("(-1, -1, -1) .. (1, 1, 1) (bounded)"));
  EXPECT_THAT(result.output, HasSubstr("bounds       aabb_scale 1, inferred: content reaches 0."));
  EXPECT_THAT(result.output, HasSubstr("files        all 80 decode"));
  EXPECT_THAT(result.output, Not(HasSubstr("warn")));
}

}  // namespace
