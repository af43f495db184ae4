// Tests for nerfstudio transforms.json scenes: camera models, per-frame intrinsics, split lists,
// real-capture normalisation, .npy depth and error messages.
#include "semfield/data/nerfstudio_parser.h"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/data/scene.h"
#include "semfield/io/npy.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using semfield::test::input_error_of;
using semfield::test::matrix_json;
using semfield::test::TempDir;
using semfield::test::translation;
using semfield::test::write_test_png;
using semfield::test::write_text;
using ::testing::HasSubstr;

// Frames written out of name order: c, a, b, d at (0,2,0), (1,0,0), (-1,0,0), (0,-2,0).
std::string ns_frames(const std::string& extra_c = "") {
  return "[" +
         fmt::format(R"({{"file_path": "images/c.png", "transform_matrix": {}, "fl_x": 12{}}}, )",
                     matrix_json(translation(0, 2, 0)), extra_c) +
         fmt::format(R"({{"file_path": "images/a.png", "transform_matrix": {}}}, )", matrix_json(translation(1, 0, 0))) +
         fmt::format(R"({{"file_path": "images/b.png", "transform_matrix": {}}}, )", matrix_json(translation(-1, 0, 0))) +
         fmt::format(R"({{"file_path": "images/d.png", "transform_matrix": {}}}])", matrix_json(translation(0, -2, 0)));
}

void write_ns_scene(const fs::path& dir, const std::string& top, const std::string& extra_c = "") {
  for (const char* name : {"a", "b", "c", "d"}) write_test_png(dir / "images" / (std::string(name) + ".png"), 8, 6);
  write_text(dir / "transforms.json", "{" + top + (top.empty() ? "" : ", ") + R"("fl_y": 10, "cx": 4, "cy": 3,
      "w": 8, "h": 6, "frames": )" + ns_frames(extra_c) + "}");
}

const std::string kOpenCV = R"("camera_model": "OPENCV", "fl_x": 10, "k1": 0.05, "p2": 0.001)";

TEST(NerfstudioParser, LoadsCamerasInNameOrderWithRealCaptureFraming) {
  TempDir dir;
  write_ns_scene(dir.path(), kOpenCV + R"(, "applied_transform": [[0,1,0,0],[1,0,0,0],[0,0,-1,0]])");
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "nerfstudio");
  ASSERT_EQ(scene.views.size(), 4u);
  EXPECT_EQ(scene.views[0].name, "a");
  EXPECT_EQ(scene.views[3].name, "d");
  // fraction:0.9 of 4 views = ceil(3.6) = 4 train views.
  EXPECT_EQ(scene.count(Split::Train), 4u);
  const Intrinsics& K = scene.find_view("a").camera.intrinsics;
  EXPECT_EQ(K.model, CameraModel::OpenCV);
  EXPECT_DOUBLE_EQ(K.fx, 10);
  EXPECT_DOUBLE_EQ(K.distortion.k1, 0.05);
  EXPECT_DOUBLE_EQ(K.distortion.p2, 0.001);
  EXPECT_DOUBLE_EQ(scene.find_view("c").camera.intrinsics.fx, 12);  // per-frame override
  // Mean camera position (0,0,0), farthest camera at distance 2 -> scale 0.5. applied_transform is
  // already part of the saved poses, so it is not applied again.
  EXPECT_DOUBLE_EQ(scene.normalization.scale, 0.5);
  EXPECT_NEAR((scene.find_view("c").camera.origin() - Eigen::Vector3d(0, 1, 0)).norm(), 0.0, 1e-12);
  EXPECT_NEAR((scene.find_view("a").camera.origin() - Eigen::Vector3d(0.5, 0, 0)).norm(), 0.0, 1e-12);
  EXPECT_EQ(scene.aabb.max(), Eigen::Vector3d::Constant(2));
  EXPECT_EQ(scene.aabb.min(), Eigen::Vector3d::Constant(-2));
  EXPECT_TRUE(scene.unbounded);
  // Real captures are not inferred: their box is the contracted space around the cameras.
  EXPECT_EQ(scene.bounds.source, BoundsSource::Cameras);
  EXPECT_EQ(scene.bounds.aabb_scale, 2);
  EXPECT_FALSE(scene.bounds.content_extent.has_value());
}

TEST(NerfstudioParser, NormalisationCentresOnTheMeanCamera) {
  TempDir dir;
  for (const char* name : {"a", "b"}) write_test_png(dir / "images" / (std::string(name) + ".png"), 8, 6);
  write_text(dir / "transforms.json",
             fmt::format(R"({{"camera_model": "PINHOLE", "fl_x": 10, "fl_y": 10, "cx": 4, "cy": 3, "w": 8, "h": 6,
      "frames": [{{"file_path": "images/a.png", "transform_matrix": {}}},
                 {{"file_path": "images/b.png", "transform_matrix": {}}}]}})",
                         matrix_json(translation(10, 0, 0)), matrix_json(translation(14, 0, 0))));
  const Scene scene = load_scene(dir.path());
  // centre (12,0,0), farthest at 2 -> p_n = 0.5 (p - centre).
  EXPECT_DOUBLE_EQ(scene.normalization.scale, 0.5);
  EXPECT_NEAR((scene.normalization.apply({12, 0, 0})).norm(), 0.0, 1e-12);
  EXPECT_NEAR((scene.find_view("b").camera.origin() - Eigen::Vector3d(1, 0, 0)).norm(), 0.0, 1e-12);
  EXPECT_NEAR((scene.normalization.invert({1, 0, 0}) - Eigen::Vector3d(14, 0, 0)).norm(), 0.0, 1e-12);
  EXPECT_EQ(scene.find_view("a").camera.intrinsics.model, CameraModel::Pinhole);
}

TEST(NerfstudioParser, SplitListsAssignSplits) {
  TempDir dir;
  write_ns_scene(dir.path(), kOpenCV + R"(, "train_filenames": ["images/a.png", "images/d.png", "./images/b.png"],
      "test_filenames": ["images/c.png"])");
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.count(Split::Train), 3u);
  ASSERT_EQ(scene.count(Split::Test), 1u);
  EXPECT_EQ(scene.find_view("test:0").name, "c");
  // every:2 overrides the lists: views a, c (indices 0, 2 in name order) evaluate.
  LoadOptions every;
  every.split_rule = SplitRule::parse("every:2");
  const Scene resplit = load_scene(dir.path(), every);
  EXPECT_EQ(resplit.find_view("a").split, Split::Test);
  EXPECT_EQ(resplit.find_view("b").split, Split::Train);
  EXPECT_EQ(resplit.find_view("c").split, Split::Test);
}

TEST(NerfstudioParser, FisheyeModelPerFrame) {
  TempDir dir;
  write_ns_scene(dir.path(), R"("camera_model": "OPENCV", "fl_x": 10)",
                 R"(, "camera_model": "OPENCV_FISHEYE", "k1": 0.1, "k4": 0.01)");
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.find_view("c").camera.intrinsics.model, CameraModel::OpenCVFisheye);
  EXPECT_DOUBLE_EQ(scene.find_view("c").camera.intrinsics.distortion.k4, 0.01);
  EXPECT_EQ(scene.find_view("a").camera.intrinsics.model, CameraModel::OpenCV);
}

TEST(NerfstudioParser, NpyDepthUsesUnitScaleAndNormalisation) {
  TempDir dir;
  Array depth = Array::from_float({6, 8}, std::vector<float>(48, 2.0f));
  std::vector<float> values(48, 2.0f);
  values[1] = std::numeric_limits<float>::quiet_NaN();
  depth = Array::from_float({6, 8}, values);
  write_npy(dir / "depth" / "c.npy", depth);
  write_ns_scene(dir.path(), kOpenCV + R"(, "depth_unit_scale_factor": 1.0)", R"(, "depth_file_path": "depth/c.npy")");
  const Scene scene = load_scene(dir.path());
  const View& c = scene.find_view("c");
  ASSERT_TRUE(c.depth.has_value());
  EXPECT_FLOAT_EQ(c.depth->at(0, 0), 1.0f);  // 2 m * 1.0 * scale 0.5
  EXPECT_FLOAT_EQ(c.depth->at(1, 0), 0.0f);  // NaN -> unknown
  write_npy(dir / "depth" / "c.npy", Array::from_float({6, 7}, std::vector<float>(42, 1.0f)));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms.json: frames[0].depth_file_path: " + (dir.path() / "depth" / "c.npy").string() +
                        " is 7x6 but its image is 8x6"));
}

TEST(NerfstudioParser, ErrorsNameFileAndField) {
  TempDir dir;
  const auto error_for = [&](const std::string& top, const std::string& extra_c = "") {
    write_ns_scene(dir.path(), top, extra_c);
    return input_error_of([&] { load_scene(dir.path()); });
  };
  EXPECT_THAT(error_for(R"("camera_model": "EQUIRECTANGULAR", "fl_x": 10)"),
              HasSubstr("transforms.json: camera_model: unsupported camera model 'EQUIRECTANGULAR'"));
  EXPECT_THAT(error_for(R"("camera_model": "OPENCV", "fl_x": 10, "applied_transform": [[1,0,0,0],[0,1,0,0]])"),
              HasSubstr("transforms.json: applied_transform: expected a 3x4 matrix, got 2 rows"));
  EXPECT_THAT(error_for(kOpenCV + R"(, "test_filenames": ["images/zzz.png"])"),
              HasSubstr("transforms.json: test_filenames[0]: 'images/zzz.png' is not the file_path of any frame"));
  write_text(dir / "transforms.json", fmt::format(R"({{"camera_model": "OPENCV", "w": 8, "h": 6,
      "frames": [{{"file_path": "images/a.png", "transform_matrix": {}}}]}})", matrix_json(translation(0, 0, 0))));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("transforms.json: frames[0]: no focal length: expected fl_x or camera_angle_x"));
  EXPECT_THAT(error_for(R"("camera_model": "PINHOLE", "fl_x": 10, "k1": 0.2)"),
              HasSubstr("transforms.json: k1: must be 0 for camera model PINHOLE"));
  EXPECT_THAT(error_for(kOpenCV, R"(, "w": "eight")"), HasSubstr("transforms.json: frames[0].w: expected a number, got string"));
  EXPECT_THAT(error_for(kOpenCV, R"(, "mask_path": "")"), HasSubstr("transforms.json: frames[0].mask_path: empty path"));
}

}  // namespace
