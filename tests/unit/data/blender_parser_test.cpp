// Tests for NeRF-synthetic and instant-ngp scenes: cameras, normalisation, images, extras, labels and
// every error a malformed file can produce.
#include "semfield/data/blender_parser.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/data/scene.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using semfield::test::input_error_of;
using semfield::test::LogCapture;
using semfield::test::matrix_json;
using semfield::test::TempDir;
using semfield::test::translation;
using semfield::test::write_test_png;
using semfield::test::write_text;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kAngleX = 0.8;

std::string frame_json(const std::string& file_path, const Eigen::Matrix4d& c2w, const std::string& extra = "") {
  return fmt::format(R"({{"file_path": "{}", "transform_matrix": {}{}}})", file_path, matrix_json(c2w), extra);
}

std::string transforms_json(const std::vector<std::string>& frames, const std::string& top = "") {
  std::string list;
  for (const auto& f : frames) list += (list.empty() ? "" : ", ") + f;
  return fmt::format(R"({{"camera_angle_x": {}, {}"frames": [{}]}})", kAngleX, top.empty() ? "" : top + ", ", list);
}

// A NeRF-synthetic folder: train r_0..r_2 and test r_3, 8x6 RGBA images, identity rotations.
void write_blender_scene(const fs::path& dir) {
  const std::vector<Eigen::Vector3d> positions = {{0, 0, 4}, {1, 0, 4}, {0, 1, 4}, {0, 0, 3}};
  std::vector<std::string> train, test;
  for (int i = 0; i < 4; ++i) {
    const std::string split = i < 3 ? "train" : "test";
    write_test_png(dir / split / fmt::format("r_{}.png", i), 8, 6, 4);
    const auto& p = positions[static_cast<size_t>(i)];
    (i < 3 ? train : test).push_back(frame_json(fmt::format("./{}/r_{}", split, i), translation(p.x(), p.y(), p.z())));
  }
  write_text(dir / "transforms_train.json", transforms_json(train));
  write_text(dir / "transforms_test.json", transforms_json(test));
}

TEST(BlenderParser, LoadsSplitsCamerasAndNormalisation) {
  TempDir dir;
  write_blender_scene(dir.path());
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "blender");
  EXPECT_EQ(scene.count(Split::Train), 3u);
  EXPECT_EQ(scene.count(Split::Val), 0u);
  EXPECT_EQ(scene.count(Split::Test), 1u);
  EXPECT_EQ(scene.find_view("test:0").name, "r_3");
  const View& v = scene.find_view("r_1");
  EXPECT_EQ(v.image_path, dir.path() / "train" / "r_1.png");
  const Intrinsics& K = v.camera.intrinsics;
  EXPECT_EQ(K.width, 8);
  EXPECT_EQ(K.height, 6);
  EXPECT_NEAR(K.fx, 0.5 * 8 / std::tan(0.5 * kAngleX), 1e-12);
  EXPECT_NEAR(K.fy, K.fx, 1e-12);
  EXPECT_DOUBLE_EQ(K.cx, 4.0);
  EXPECT_DOUBLE_EQ(K.cy, 3.0);
  EXPECT_EQ(K.model, CameraModel::Pinhole);
  // instant-ngp defaults (scale 0.33, offset 0.5) mapped to [-1,1]^3: p_n = 0.66 p.
  EXPECT_NEAR(scene.normalization.scale, 0.66, 1e-12);
  EXPECT_NEAR(scene.normalization.offset.norm(), 0.0, 1e-12);
  EXPECT_NEAR((v.camera.origin() - Eigen::Vector3d(0.66, 0, 2.64)).norm(), 0.0, 1e-12);
  EXPECT_EQ((v.camera.c2w.block<3, 3>(0, 0)), Eigen::Matrix3d::Identity());
  // No "aabb_scale": the box is inferred (scene_bounds_test.cpp). These opaque test images seen from
  // r_1 and r_2, offset from the centre and looking straight down, show content on rays that miss
  // [-1,1]^3 (r_1's edge rays come no closer than ~1.2 to the centre), so the box is the next one, 2.
  EXPECT_EQ(scene.bounds.source, BoundsSource::Alpha);
  EXPECT_EQ(scene.aabb.min(), Eigen::Vector3d::Constant(-2));
  EXPECT_EQ(scene.aabb.max(), Eigen::Vector3d::Constant(2));
  EXPECT_TRUE(scene.unbounded);
  // RGBA is kept when no background is asked for.
  ASSERT_EQ(v.rgb.channels, 4);
  EXPECT_EQ(v.rgb.width, 8);
  EXPECT_NEAR(v.rgb.at(3, 2, 0), 3.0 / 255, 1e-6);
  EXPECT_NEAR(v.rgb.at(3, 2, 1), 2.0 / 255, 1e-6);
  EXPECT_NEAR(v.rgb.at(0, 0, 3), 0.0, 1e-6);
  EXPECT_FALSE(scene.background.has_value());
  EXPECT_TRUE(scene.instance_labels.empty());
}

TEST(BlenderParser, CompositesBackgroundAndDownscales) {
  TempDir dir;
  write_blender_scene(dir.path());
  LoadOptions options;
  options.background = Eigen::Vector3d(1, 1, 1);
  const Scene white = load_scene(dir.path(), options);
  const View& w = white.find_view("r_0");
  ASSERT_EQ(w.rgb.channels, 3);
  EXPECT_NEAR(w.rgb.at(0, 0, 0), 1.0, 1e-6);  // alpha 0 -> background
  EXPECT_NEAR(w.rgb.at(5, 1, 0), 5.0 / 255, 1e-6);
  ASSERT_TRUE(white.background.has_value());

  LoadOptions half;
  half.downscale = 2;
  const Scene small = load_scene(dir.path(), half);
  const View& s = small.find_view("r_0");
  EXPECT_EQ(s.rgb.width, 4);
  EXPECT_EQ(s.rgb.height, 3);
  EXPECT_EQ(s.camera.intrinsics.width, 4);
  EXPECT_NEAR(s.camera.intrinsics.fx, 0.25 * 8 / std::tan(0.5 * kAngleX), 1e-12);
  EXPECT_DOUBLE_EQ(s.camera.intrinsics.cx, 2.0);
  // Block (0..1, 0..1): alpha 0 at (0,0), reds 1/255 at x = 1. Premultiplied average: alpha 3/4, red
  // (2/255)/4 / (3/4) = 2/765 — the transparent pixel's colour does not leak in.
  EXPECT_NEAR(s.rgb.at(0, 0, 3), 0.75, 1e-6);
  EXPECT_NEAR(s.rgb.at(0, 0, 0), 2.0 / 765, 1e-6);
  EXPECT_NEAR(s.rgb.at(1, 0, 0), 2.5 / 255, 1e-6);
}

TEST(BlenderParser, MissingImageIsSkippedWithWarning) {
  TempDir dir;
  write_blender_scene(dir.path());
  fs::remove(dir.path() / "train" / "r_1.png");
  LogCapture log;
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.count(Split::Train), 2u);
  EXPECT_THROW(scene.find_view("r_1"), UsageError);
  EXPECT_THAT(log.text(), HasSubstr("transforms_train.json: frames[1]: image './train/r_1' not found"));
  EXPECT_THAT(log.text(), HasSubstr("skipping this view (its camera stays a target for render and transfer)"));
  // Its camera stays, as a target without pixels, normalised like the views'.
  ASSERT_EQ(scene.imageless.size(), 1u);
  EXPECT_EQ(scene.imageless[0].name, "r_1");
  EXPECT_EQ(scene.imageless[0].split, Split::Train);
  EXPECT_NEAR((scene.imageless[0].camera.origin() - Eigen::Vector3d(0.66, 0, 2.64)).norm(), 0.0, 1e-12);
}

TEST(BlenderParser, ASplitWithoutImagesKeepsItsCamerasAsTargets) {
  TempDir dir;
  write_blender_scene(dir.path());
  fs::remove(dir.path() / "test" / "r_3.png");
  {
    LogCapture log;
    LoadOptions options;
    options.downscale = 2;
    const Scene scene = load_scene(dir.path(), options);
    EXPECT_EQ(scene.count(Split::Test), 0u);
    EXPECT_EQ(scene.count(Split::Train), 3u);
    ASSERT_EQ(scene.imageless.size(), 1u);
    const ImagelessCamera& c = scene.imageless[0];
    EXPECT_EQ(c.name, "r_3");
    EXPECT_EQ(c.split, Split::Test);
    // Sized like the scene's images (NeRF-synthetic files give no size), downscaled like the views.
    EXPECT_EQ(c.camera.intrinsics.width, 4);
    EXPECT_EQ(c.camera.intrinsics.height, 3);
    EXPECT_NEAR(c.camera.intrinsics.fx, scene.views[0].camera.intrinsics.fx, 1e-12);
    EXPECT_NEAR((c.camera.origin() - Eigen::Vector3d(0, 0, 0.66 * 3)).norm(), 0.0, 1e-12);
    EXPECT_THAT(log.text(), HasSubstr("transforms_test.json: none of its 1 frames has an existing image file"));
  }
  // No image anywhere and no "w" / "h": nothing sizes the cameras, and a split without views or cameras is an error.
  for (int i = 0; i < 3; ++i) fs::remove(dir.path() / "train" / fmt::format("r_{}.png", i));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms_train.json: frames: none of the 3 frames has an existing image file"));
  write_blender_scene(dir.path());
  write_text(dir / "transforms_test.json", transforms_json({}));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms_test.json: frames: no frames: the split is empty"));
}

TEST(BlenderParser, CamerasWithoutImagesAreNamedApartFromTheViews) {
  // NeRF-synthetic numbers each split's images from 0: test/r_0 missing beside the view train/r_0 is "test/r_0", and
  // the view keeps its name. A file_path without an extension names its frame whole ("frame.0001").
  TempDir dir;
  write_test_png(dir / "train" / "r_0.png", 8, 6, 4);
  write_text(dir / "transforms_train.json", transforms_json({frame_json("./train/r_0", translation(0, 0, 4))}));
  write_text(dir / "transforms_test.json",
             transforms_json({frame_json("./test/r_0", translation(1, 0, 4)), frame_json("./test/r_1", translation(0, 1, 4)),
                              frame_json("./test/frame.0001", translation(0, 0, 3)),
                              frame_json("./test/r_8", translation(0, 1, 3)), frame_json("./test/r_9", translation(1, 1, 3))}));
  LogCapture log;
  const Scene scene = load_scene(dir.path());
  ASSERT_EQ(scene.views.size(), 1u);
  EXPECT_EQ(scene.views[0].name, "r_0");
  ASSERT_EQ(scene.imageless.size(), 5u);
  // The first three warned one by one, the rest summed up.
  EXPECT_THAT(log.text(), HasSubstr("frames[2]: image './test/frame.0001' not found"));
  EXPECT_THAT(log.text(), Not(HasSubstr("frames[3]: image")));
  EXPECT_THAT(log.text(), HasSubstr("transforms_test.json: 2 more frames whose image is not found: skipped as views "
                                    "(their cameras stay targets for render and transfer)"));
  EXPECT_EQ(scene.imageless[0].name, "test/r_0");
  EXPECT_EQ(scene.imageless[1].name, "r_1");
  EXPECT_EQ(scene.imageless[2].name, "frame.0001");
  EXPECT_NEAR((scene.imageless[0].camera.origin() - Eigen::Vector3d(0.66, 0, 2.64)).norm(), 0.0, 1e-12);
  for (const ImagelessCamera& c : scene.imageless) {
    EXPECT_EQ(c.split, Split::Test);
    EXPECT_EQ(c.camera.intrinsics.width, 8);
  }
  // Only a test split with images (the train file's frames have none and no size is given there): the train cameras
  // are sized like the test images, whichever file is read first.
  TempDir other;
  write_test_png(other / "test" / "r_5.png", 8, 6, 4);
  write_text(other / "transforms_train.json", transforms_json({frame_json("./train/r_0", translation(0, 0, 4))}));
  write_text(other / "transforms_test.json", transforms_json({frame_json("./test/r_5", translation(1, 0, 4))}));
  const Scene test_only = load_scene(other.path());
  EXPECT_EQ(test_only.count(Split::Test), 1u);
  ASSERT_EQ(test_only.imageless.size(), 1u);
  EXPECT_EQ(test_only.imageless[0].split, Split::Train);
  EXPECT_EQ(test_only.imageless[0].camera.intrinsics.height, 6);
}

TEST(BlenderParser, LoadWithoutImagesStillChecksFilesAndSizes) {
  TempDir dir;
  write_blender_scene(dir.path());
  fs::remove(dir.path() / "train" / "r_2.png");
  LoadOptions options;
  options.load_images = false;
  options.downscale = 2;
  const Scene scene = load_scene(dir.path(), options);
  EXPECT_EQ(scene.count(Split::Train), 2u);
  EXPECT_TRUE(scene.views[0].rgb.empty());
  EXPECT_EQ(scene.views[0].camera.intrinsics.width, 4);
  // A declared size that the image does not have is caught without decoding it.
  write_text(dir / "transforms_test.json",
             transforms_json({frame_json("./test/r_3", translation(0, 0, 3))}, R"("w": 16, "h": 6)"));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path(), options); }),
              HasSubstr("transforms_test.json: frames[0]: image " + (dir.path() / "test" / "r_3.png").string() +
                        " is 8x6 but the camera says 16x6"));
}

// Each malformed transforms_train.json, and the file/field/problem its message must name.
TEST(BlenderParser, MalformedFilesNameFileAndField) {
  TempDir dir;
  write_blender_scene(dir.path());
  const std::string good = frame_json("./train/r_0", translation(0, 0, 4));
  const auto error_for = [&](const std::string& text) {
    write_text(dir / "transforms_train.json", text);
    return input_error_of([&] { load_scene(dir.path()); });
  };
  EXPECT_THAT(error_for("{\"frames\": [\n"), HasSubstr("transforms_train.json: malformed JSON at line 2"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./train/r_0"}]})"),
              HasSubstr("transforms_train.json: frames[0].transform_matrix: missing required key"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8})"), HasSubstr("transforms_train.json: frames: missing required key"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": "wide", "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: camera_angle_x: expected a number, got string"));
  EXPECT_THAT(error_for(R"({"frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: frames[0]: no focal length: expected fl_x or camera_angle_x"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./train/r_0",
      "transform_matrix": [[1,0,0],[0,1,0],[0,0,1]]}]})"),
              HasSubstr("transforms_train.json: frames[0].transform_matrix[0]: expected a row of 4 numbers, got 3"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./train/r_0",
      "transform_matrix": [[1,0,0,1e999],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]})"),
              HasSubstr("transforms_train.json: malformed JSON"));  // JSON has no inf/NaN: overflow is a parse error
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./train/r_0",
      "transform_matrix": [[2,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]})"),
              HasSubstr("transforms_train.json: frames[0].transform_matrix: rotation part of the pose is not a rotation"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": "./train/r_0",
      "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,1,1]]}]})"),
              HasSubstr("transforms_train.json: frames[0].transform_matrix: last row of the 4x4 pose must be"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "frames": [{"file_path": 7, "transform_matrix": )" +
                        matrix_json(translation(0, 0, 4)) + "}]}"),
              HasSubstr("transforms_train.json: frames[0].file_path: expected a string, got number"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "camera_model": "EQUIRECTANGULAR", "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: camera_model: unsupported camera model 'EQUIRECTANGULAR'"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "w": 8, "h": 7, "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: frames[0]: image " + (dir.path() / "train" / "r_0.png").string() +
                        " is 8x6 but the camera says 8x7"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "aabb_scale": -1, "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: aabb_scale: must be positive"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 0.8, "offset": [0.5, 0.5], "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: offset: expected 3 numbers, got 2"));
  EXPECT_THAT(error_for(R"({"camera_angle_x": 4.0, "frames": [)" + good + "]}"),
              HasSubstr("transforms_train.json: camera_angle_x: field of view must be in (0, pi)"));
  EXPECT_THAT(error_for("[1, 2]"), HasSubstr("transforms_train.json: (root): expected a JSON object"));
}

TEST(BlenderParser, MissingFolderAndUnknownLayout) {
  TempDir dir;
  EXPECT_THAT(input_error_of([&] { load_scene(dir / "nope"); }), HasSubstr("nope: no such file or folder"));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }), HasSubstr("no scene found"));
}

TEST(BlenderParser, LabelsAndFormatOfSynthScenes) {
  TempDir dir;
  write_blender_scene(dir.path());
  write_text(dir / "labels.json", R"({"classes": [{"id": 0, "name": "void"}, {"id": 2, "name": "sphere"}],
    "instances": [{"id": 3, "name": "sphere_0", "class_id": 2, "bbox_min": [-1, -1, 0], "bbox_max": [1, 1, 2]}]})");
  write_text(dir / "scene.json", "{}");
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "semfield-synth");
  ASSERT_EQ(scene.semantic_labels.size(), 2u);
  EXPECT_EQ(scene.semantic_labels.at(2).name, "sphere");
  ASSERT_EQ(scene.instance_labels.count(3), 1u);
  const Label& label = scene.instance_labels.at(3);
  EXPECT_EQ(label.name, "sphere_0");
  EXPECT_EQ(label.class_name, "sphere");
  EXPECT_EQ(label.class_id, 2);
  ASSERT_TRUE(label.bbox.has_value());
  EXPECT_EQ(label.bbox->max(), Eigen::Vector3d(1, 1, 2));
}

// A scene whose r_0 declares depth, mask, instance and semantic maps.
void write_extras(const fs::path& dir, const std::string& top = "", int map_width = 8) {
  Image depth(8, 6, 1), mask(8, 6, 1), instance(map_width, 6, 1), semantic(8, 6, 1);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 8; ++x) {
      depth.at(x, y) = static_cast<float>(1000 * (x + 1));
      mask.at(x, y) = x < 4 ? 0.0f : 200.0f;
      semantic.at(x, y) = static_cast<float>(y);
    }
  }
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < map_width; ++x) instance.at(x, y) = static_cast<float>(x + 10 * y);
  write_png(dir / "train" / "r_0_depth.png", depth, 16, ImageRange::Raw);
  write_png(dir / "train" / "r_0_mask.png", mask, 8, ImageRange::Raw);
  write_png(dir / "train" / "r_0_instance.png", instance, 16, ImageRange::Raw);
  write_png(dir / "train" / "r_0_semantic.png", semantic, 8, ImageRange::Raw);
  const std::string extras = R"(, "depth_file_path": "./train/r_0_depth.png", "mask_path": "train/r_0_mask.png",
      "instance_path": "./train/r_0_instance.png", "semantic_path": "./train/r_0_semantic.png")";
  write_text(dir / "transforms_train.json",
             transforms_json({frame_json("./train/r_0", translation(0, 0, 4), extras),
                              frame_json("./train/r_1", translation(1, 0, 4))},
                             top));
}

TEST(BlenderParser, VerifyingFilesListsEveryUnusableFileWhereLoadingStopsAtTheFirst) {
  TempDir dir;
  write_blender_scene(dir.path());
  write_extras(dir.path());  // train: r_0 with every extra, r_1
  const fs::path truncated = dir.path() / "train" / "r_1.png";
  fs::resize_file(truncated, fs::file_size(truncated) - 24);  // the header survives, the pixels do not
  Image small(4, 6, 1);
  write_png(dir.path() / "train" / "r_0_semantic.png", small, 8, ImageRange::Raw);
  LoadOptions options;
  options.load_images = false;
  // Headers alone pass: that is what --quick checks.
  EXPECT_TRUE(load_scene(dir.path(), options).unreadable.empty());
  options.verify_files = true;
  const Scene scene = load_scene(dir.path(), options);
  ASSERT_EQ(scene.unreadable.size(), 2u);
  EXPECT_EQ(scene.unreadable[0].path, dir.path() / "train" / "r_0_semantic.png");
  EXPECT_EQ(scene.unreadable[0].message,
            (dir.path() / "transforms_train.json").string() + ": frames[0].semantic_path: " +
                (dir.path() / "train" / "r_0_semantic.png").string() + " is 4x6 but its image is 8x6");
  EXPECT_EQ(scene.unreadable[1].path, truncated);
  EXPECT_THAT(scene.unreadable[1].message, HasSubstr(truncated.string() + ": "));
  EXPECT_THAT(scene.unreadable[1].message, HasSubstr("PNG"));
  EXPECT_TRUE(scene.views[0].rgb.empty());
  // Loading for training stops at the first of them, with the same message.
  EXPECT_EQ(input_error_of([&] { load_scene(dir.path()); }), scene.unreadable[0].message);
  fs::remove(dir.path() / "train" / "r_0_semantic.png");
  const Scene missing = load_scene(dir.path(), options);
  ASSERT_EQ(missing.unreadable.size(), 2u);
  EXPECT_EQ(missing.unreadable[0].message, (dir.path() / "transforms_train.json").string() +
                                               ": frames[0].semantic_path: file not found: " +
                                               (dir.path() / "train" / "r_0_semantic.png").string());
  write_png(dir.path() / "train" / "r_0_semantic.png", Image(8, 6, 1), 8, ImageRange::Raw);
  EXPECT_EQ(input_error_of([&] { load_scene(dir.path()); }), scene.unreadable[1].message);
}

TEST(BlenderParser, LoadsExtrasInSceneUnits) {
  TempDir dir;
  write_blender_scene(dir.path());
  write_extras(dir.path());
  const Scene scene = load_scene(dir.path());
  const View& v = scene.find_view("r_0");
  ASSERT_TRUE(v.depth && v.mask && v.instance && v.semantic);
  EXPECT_FALSE(scene.find_view("r_1").depth.has_value());
  EXPECT_EQ(v.depth_path, dir.path() / "train" / "r_0_depth.png");
  // 16-bit value 1000 (x+1) * 0.001 m * 0.66 (normalisation scale).
  EXPECT_NEAR(v.depth->at(2, 1), 3 * 0.66, 1e-6);
  EXPECT_EQ(v.mask->at(3, 0), 0.0f);
  EXPECT_EQ(v.mask->at(4, 0), 1.0f);
  EXPECT_EQ(v.instance->at(5, 2), 25.0f);
  EXPECT_EQ(v.semantic->at(5, 2), 2.0f);

  write_extras(dir.path(), R"("depth_unit_scale_factor": 0.01)");
  LoadOptions half;
  half.downscale = 2;
  const Scene small = load_scene(dir.path(), half);
  const View& s = small.find_view("r_0");
  ASSERT_EQ(s.depth->width, 4);
  // Nearest (top-left sample): downscaled (1, 1) is full-resolution (2, 2).
  EXPECT_NEAR(s.depth->at(1, 1), 3 * 10 * 0.66, 1e-5);
  EXPECT_EQ(s.instance->at(1, 1), 22.0f);
  EXPECT_EQ(s.semantic->at(1, 1), 2.0f);
  EXPECT_EQ(s.mask->at(2, 0), 1.0f);
}

TEST(BlenderParser, ExtrasErrorsNameFileAndField) {
  TempDir dir;
  write_blender_scene(dir.path());
  write_extras(dir.path(), "", 4);
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms_train.json: frames[0].instance_path: " +
                        (dir.path() / "train" / "r_0_instance.png").string() + " is 4x6 but its image is 8x6"));
  write_extras(dir.path());
  fs::remove(dir.path() / "train" / "r_0_mask.png");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms_train.json: frames[0].mask_path: file not found"));
  LoadOptions no_extras;
  no_extras.load_extras = false;
  EXPECT_EQ(load_scene(dir.path(), no_extras).find_view("r_0").mask_path, dir.path() / "train" / "r_0_mask.png");
  write_extras(dir.path(), R"("depth_unit_scale_factor": 0)");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms_train.json: depth_unit_scale_factor: must be positive"));
}

// instant-ngp: one transforms.json, explicit intrinsics, distortion, unit-cube keys.
TEST(InstantNgpParser, ReadsIntrinsicsDistortionAndUnitCube) {
  TempDir dir;
  std::vector<std::string> frames;
  for (int i = 0; i < 10; ++i) {
    write_test_png(dir / "images" / fmt::format("f_{:02}.png", i), 8, 6);
    frames.push_back(frame_json(fmt::format("images/f_{:02}.png", i), translation(0.1 * i, 0, 1),
                                i == 5 ? R"(, "fl_x": 20)" : ""));
  }
  std::string list;
  for (const auto& f : frames) list += (list.empty() ? "" : ", ") + f;
  write_text(dir / "transforms.json",
             R"({"fl_x": 10, "fl_y": 11, "cx": 4.5, "cy": 3.25, "w": 8, "h": 6, "k1": 0.1, "p1": 0.01,
                 "scale": 0.5, "offset": [0.5, 1.0, 0.0], "aabb_scale": 4, "frames": [)" + list + "]}");
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "instant-ngp");
  // Auto = fraction:0.9 -> view 8 is the only test view.
  EXPECT_EQ(scene.count(Split::Train), 9u);
  ASSERT_EQ(scene.count(Split::Test), 1u);
  EXPECT_EQ(scene.find_view("test:0").name, "f_08");
  const Intrinsics& K = scene.find_view("f_00").camera.intrinsics;
  EXPECT_EQ(K.model, CameraModel::OpenCV);
  EXPECT_DOUBLE_EQ(K.fx, 10);
  EXPECT_DOUBLE_EQ(K.fy, 11);
  EXPECT_DOUBLE_EQ(K.cx, 4.5);
  EXPECT_DOUBLE_EQ(K.cy, 3.25);
  EXPECT_DOUBLE_EQ(K.distortion.k1, 0.1);
  EXPECT_DOUBLE_EQ(K.distortion.p1, 0.01);
  EXPECT_DOUBLE_EQ(scene.find_view("f_05").camera.intrinsics.fx, 20);
  // p_n = 2*0.5 p + (2*offset - 1) = p + (0, 1, -1); aabb_scale 4 -> [-4,4]^3, unbounded.
  EXPECT_DOUBLE_EQ(scene.normalization.scale, 1.0);
  EXPECT_EQ(scene.normalization.offset, Eigen::Vector3d(0, 1, -1));
  EXPECT_NEAR((scene.find_view("f_02").camera.origin() - Eigen::Vector3d(0.2, 1, 0)).norm(), 0.0, 1e-12);
  EXPECT_EQ(scene.aabb.max(), Eigen::Vector3d::Constant(4));
  EXPECT_TRUE(scene.unbounded);
  // An explicit rule overrides the format's default; "files" needs a format that has splits.
  LoadOptions every;
  every.split_rule = SplitRule::parse("every:3");
  EXPECT_EQ(load_scene(dir.path(), every).count(Split::Test), 4u);
  LoadOptions files;
  files.split_rule = SplitRule::parse("files");
  EXPECT_THROW(load_scene(dir.path(), files), UsageError);
  // The json file itself can be named.
  EXPECT_EQ(load_scene(dir / "transforms.json").views.size(), 10u);
}

TEST(InstantNgpParser, FisheyeAndDistortionErrors) {
  TempDir dir;
  write_test_png(dir / "images" / "a.png", 8, 6);
  const std::string frame = frame_json("images/a.png", translation(0, 0, 1));
  write_text(dir / "transforms.json", R"({"fl_x": 10, "is_fisheye": true, "k1": 0.1, "k2": 0.02, "k3": 0.003,
      "k4": 0.0004, "frames": [)" + frame + "]}");
  const Intrinsics K = load_scene(dir.path()).views.at(0).camera.intrinsics;
  EXPECT_EQ(K.model, CameraModel::OpenCVFisheye);
  EXPECT_DOUBLE_EQ(K.distortion.k4, 0.0004);
  EXPECT_DOUBLE_EQ(K.fy, 10);  // fy defaults to fx
  write_text(dir / "transforms.json", R"({"fl_x": 10, "k1": 0.1, "k4": 0.2, "frames": [)" + frame + "]}");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms.json: k4: OpenCV radial-tangential cameras use k1 k2 k3 p1 p2"));
  write_text(dir / "transforms.json", R"({"fl_x": 10, "is_fisheye": true, "p2": 0.1, "frames": [)" + frame + "]}");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }), HasSubstr("transforms.json: p2: fisheye cameras"));
  write_text(dir / "transforms.json", R"({"fl_x": -10, "frames": [)" + frame + "]}");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms.json: frames[0]: focal lengths must be positive"));
}

TEST(InstantNgpParser, ViewsSharingAStemGetDistinctNames) {
  TempDir dir;
  write_test_png(dir / "left" / "0001.png", 8, 6);
  write_test_png(dir / "right" / "0001.png", 8, 6);
  write_test_png(dir / "right" / "0002.png", 8, 6);
  write_text(dir / "transforms.json",
             R"({"camera_angle_x": 0.8, "frames": [)" + frame_json("left/0001.png", translation(0, 0, 1)) + ", " +
                 frame_json("right/0001.png", translation(1, 0, 1)) + ", " +
                 frame_json("right/0002.png", translation(2, 0, 1)) + "]}");
  const Scene scene = load_scene(dir.path());
  ASSERT_EQ(scene.views.size(), 3u);
  EXPECT_EQ(scene.views[0].name, "left/0001");
  EXPECT_EQ(scene.views[1].name, "right/0001");
  EXPECT_EQ(scene.views[2].name, "0002");
  EXPECT_EQ(scene.find_view("right/0001").image_path, dir.path() / "right" / "0001.png");
}

TEST(InstantNgpParser, MissingImagesAreSkippedAndSummedUpWithoutKeepingCameras) {
  TempDir dir;
  write_test_png(dir / "images" / "0000.png", 8, 6);
  std::string frames = frame_json("images/0000.png", translation(0, 0, 1));
  for (int i = 1; i <= 5; ++i)
    frames += ", " + frame_json(fmt::format("images/{:04}.png", i), translation(i, 0, 1));
  write_text(dir / "transforms.json", R"({"camera_angle_x": 0.8, "frames": [)" + frames + "]}");
  LogCapture log;
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.views.size(), 1u);
  EXPECT_TRUE(scene.imageless.empty());  // no split file: the frames are dropped, not kept as cameras
  EXPECT_THAT(log.text(), HasSubstr("frames[3]: image 'images/0003.png' not found"));
  EXPECT_THAT(log.text(), Not(HasSubstr("camera stays")));
  EXPECT_THAT(log.text(), Not(HasSubstr("frames[4]: image")));
  EXPECT_THAT(log.text(), HasSubstr("transforms.json: 2 more frames whose image is not found: skipped\n"));
}

TEST(BlenderParser, LoadsSharedLego200) {
  const fs::path lego = semfield::test::shared_dir() / "data" / "lego_200";
  SEMFIELD_REQUIRE_SHARED_FILE(lego / "transforms_train.json");
  const Scene scene = load_scene(lego);
  EXPECT_EQ(scene.format, "blender");
  EXPECT_EQ(scene.count(Split::Train), 70u);
  EXPECT_EQ(scene.count(Split::Test), 10u);
  EXPECT_EQ(scene.count(Split::Val), 0u);
  const double angle = 0.6911112070083618;
  for (const View& view : scene.views) {
    EXPECT_EQ(view.rgb.width, 200);
    EXPECT_EQ(view.rgb.height, 200);
    EXPECT_EQ(view.rgb.channels, 4);
    EXPECT_NEAR(view.camera.intrinsics.fx, 0.5 * 200 / std::tan(0.5 * angle), 1e-9);
    // Cameras sit on a sphere of radius ~4.03 around the object: 0.66 * 4.03 in normalised units.
    EXPECT_NEAR(view.camera.origin().norm(), 0.66 * 4.031, 0.05);
  }
  EXPECT_EQ(scene.find_view("test:0").name, "r_70");
  // The camera looks at the object: the centre pixel's ray passes near the origin.
  const View& v = scene.find_view("r_0");
  const Ray ray = v.camera.pixel_to_ray(100, 100);
  EXPECT_LT(ray.origin.cross(ray.direction).norm(), 0.3);
}

}  // namespace
