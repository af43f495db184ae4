// Tests for LLFF scenes: the [down, right, back] -> OpenGL axis conversion, intrinsics from H W focal,
// bounds, image matching and errors.
#include "semfield/data/llff_parser.h"

#include <cmath>
#include <limits>

#include <Eigen/Geometry>
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
using semfield::test::TempDir;
using semfield::test::write_test_png;
using ::testing::HasSubstr;

// OpenGL camera-to-world rotations and positions of the three views.
std::vector<Eigen::Matrix3d> rotations() {
  return {Eigen::Matrix3d::Identity(), Eigen::AngleAxisd(0.5, Eigen::Vector3d::UnitY()).toRotationMatrix(),
          Eigen::AngleAxisd(-0.3, Eigen::Vector3d(1, 1, 0).normalized()).toRotationMatrix()};
}
const std::vector<Eigen::Vector3d> kPositions = {{2, 0, 0}, {-2, 0, 0}, {0, 0, 0}};

// One LLFF row: 3x5 [down right back | t | (H W focal)] row-major, then near, far.
std::vector<float> llff_row(const Eigen::Matrix3d& R, const Eigen::Vector3d& t, double h, double w, double f,
                            double near, double far) {
  std::vector<float> row;
  const Eigen::Vector3d hwf(h, w, f);
  for (int r = 0; r < 3; ++r) {
    for (double v : {-R(r, 1), R(r, 0), R(r, 2), t(r), hwf(r)}) row.push_back(static_cast<float>(v));
  }
  row.push_back(static_cast<float>(near));
  row.push_back(static_cast<float>(far));
  return row;
}

void write_llff(const fs::path& dir, double height = 6, float nan_at_row1 = 0.0f) {
  std::vector<float> values;
  const double nears[] = {0.5, 0.4, 0.6}, fars[] = {5, 6, 4};
  for (size_t i = 0; i < 3; ++i) {
    const auto row = llff_row(rotations()[i], kPositions[i], height, 8, 7, nears[i], fars[i]);
    values.insert(values.end(), row.begin(), row.end());
  }
  if (nan_at_row1 != 0.0f) values[17 + 3] = std::numeric_limits<float>::quiet_NaN();
  write_npy(dir / "poses_bounds.npy", Array::from_float({3, 17}, values));
  for (const char* name : {"IMG_0001.png", "IMG_0002.png", "IMG_0003.png"}) write_test_png(dir / "images" / name, 8, 6);
}

TEST(LlffParser, ConvertsAxesIntrinsicsAndBounds) {
  TempDir dir;
  write_llff(dir.path());
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "llff");
  ASSERT_EQ(scene.views.size(), 3u);
  EXPECT_EQ(scene.views[0].name, "IMG_0001");
  // Hand check of view 0: LLFF columns down = (0,-1,0), right = (1,0,0), back = (0,0,1) are OpenGL
  // x = right = (1,0,0), y = -down = (0,1,0), z = back: the identity.
  EXPECT_NEAR((scene.views[0].camera.c2w.block<3, 3>(0, 0) - Eigen::Matrix3d::Identity()).norm(), 0.0, 1e-6);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_NEAR((scene.views[i].camera.c2w.block<3, 3>(0, 0) - rotations()[i]).norm(), 0.0, 1e-6) << i;
  // Mean position (0,0,0), farthest at 2 -> scale 0.5.
  EXPECT_NEAR(scene.normalization.scale, 0.5, 1e-9);
  EXPECT_NEAR((scene.views[1].camera.origin() - Eigen::Vector3d(-1, 0, 0)).norm(), 0.0, 1e-6);
  const Intrinsics& K = scene.views[2].camera.intrinsics;
  EXPECT_EQ(K.width, 8);
  EXPECT_EQ(K.height, 6);
  EXPECT_DOUBLE_EQ(K.fx, 7);
  EXPECT_DOUBLE_EQ(K.fy, 7);
  EXPECT_DOUBLE_EQ(K.cx, 4);
  EXPECT_DOUBLE_EQ(K.cy, 3);
  EXPECT_NEAR(scene.near, 0.4 * 0.5, 1e-6);
  EXPECT_NEAR(scene.far, 6 * 0.5, 1e-6);
  EXPECT_TRUE(scene.unbounded);
  // Auto = every:8: view 0 evaluates.
  EXPECT_EQ(scene.views[0].split, Split::Test);
  EXPECT_EQ(scene.count(Split::Train), 2u);
}

TEST(LlffParser, ErrorsNameFileAndField) {
  TempDir dir;
  write_llff(dir.path());
  fs::remove(dir / "images" / "IMG_0002.png");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("images: found 2 images but poses_bounds.npy has 3 poses"));
  write_llff(dir.path(), 7);
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("poses_bounds.npy: row 0: image " + (dir.path() / "images" / "IMG_0001.png").string() +
                        " is 8x6 but the camera says 8x7"));
  write_llff(dir.path(), 6, 1.0f);
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("poses_bounds.npy: row 1: non-finite value in column 3"));
  write_npy(dir / "poses_bounds.npy", Array::from_float({3, 15}, std::vector<float>(45, 1.0f)));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("poses_bounds.npy: shape: expected [N, 17] (N >= 1), got [3, 15]"));
  std::vector<float> row = llff_row(Eigen::Matrix3d::Identity(), Eigen::Vector3d::Zero(), 6, 8, 7, 2.0, 1.0);
  write_npy(dir / "poses_bounds.npy", Array::from_float({1, 17}, row));
  for (const char* name : {"IMG_0002.png", "IMG_0003.png"}) fs::remove(dir / "images" / name);
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }),
              HasSubstr("poses_bounds.npy: row 0: bounds: expected 0 < near < far"));
  test::remove_tree(dir / "images");
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }), HasSubstr("images: LLFF image folder not found"));
}

}  // namespace
