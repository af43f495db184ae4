// Tests for COLMAP models: .txt and .bin parsing, every supported camera model, the pose conversion
// checked against COLMAP's own projection formula, image lookup, and located errors (truncation included).
#include "semfield/data/colmap_parser.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/file_util.h"
#include "semfield/data/colmap_model.h"
#include "semfield/data/scene.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using semfield::test::input_error_of;
using semfield::test::LogCapture;
using semfield::test::TempDir;
using semfield::test::write_test_png;
using semfield::test::write_text;
using ::testing::HasSubstr;

struct TestImage {
  uint32_t id;
  std::array<double, 4> q;  // w x y z (not normalised: COLMAP readers must normalise)
  std::array<double, 3> t;
  uint32_t camera_id;
  std::string name;
};

const std::vector<TestImage> kImages = {
    {1, {1, 0, 0, 0}, {0, 0, 3}, 1, "b.png"},
    {2, {0.9, 0.1, 0.2, 0.3}, {0.5, -1, 2}, 2, "a.png"},
    {3, {0.7, -0.1, 0.5, 0.2}, {1, 1, 4}, 1, "c.png"},
};

const char* kCamerasTxt =
    "# Camera list with one line of data per camera:\n"
    "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
    "1 PINHOLE 8 6 10 11 4 3\n"
    "2 OPENCV 8 6 10 10 4.5 3 0.1 0.01 0.001 -0.002\n";

std::string images_txt() {
  std::string out = "# Image list with two lines of data per image:\n";
  for (const TestImage& im : kImages) {
    out += fmt::format("{} {} {} {} {} {} {} {} {} {}\n", im.id, im.q[0], im.q[1], im.q[2], im.q[3], im.t[0], im.t[1],
                       im.t[2], im.camera_id, im.name);
    out += im.id == 1 ? "\n" : "1.5 2.5 -1 3 4 7\n";  // an empty and a non-empty POINTS2D line
  }
  return out;
}

class ByteWriter {
 public:
  template <typename T>
  ByteWriter& put(T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);  // the test host is little-endian
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  ByteWriter& str(const std::string& s) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    bytes.push_back(0);
    return *this;
  }
  std::vector<uint8_t> bytes;
};

std::vector<uint8_t> cameras_bin() {
  ByteWriter w;
  w.put<uint64_t>(2);
  w.put<uint32_t>(1).put<int32_t>(1).put<uint64_t>(8).put<uint64_t>(6);
  for (double p : {10.0, 11.0, 4.0, 3.0}) w.put(p);
  w.put<uint32_t>(2).put<int32_t>(4).put<uint64_t>(8).put<uint64_t>(6);
  for (double p : {10.0, 10.0, 4.5, 3.0, 0.1, 0.01, 0.001, -0.002}) w.put(p);
  return w.bytes;
}

std::vector<uint8_t> images_bin() {
  ByteWriter w;
  w.put<uint64_t>(kImages.size());
  for (const TestImage& im : kImages) {
    w.put(im.id);
    for (double v : im.q) w.put(v);
    for (double v : im.t) w.put(v);
    w.put(im.camera_id).str(im.name);
    const uint64_t n_points = im.id == 1 ? 0 : 2;
    w.put(n_points);
    for (uint64_t k = 0; k < n_points; ++k) w.put(1.5).put(2.5).put<int64_t>(-1);
  }
  return w.bytes;
}

std::vector<uint8_t> points3d_bin() {
  ByteWriter w;
  w.put<uint64_t>(2);
  w.put<uint64_t>(7).put(0.1).put(0.2).put(0.3).put<uint8_t>(255).put<uint8_t>(128).put<uint8_t>(0).put(0.5);
  w.put<uint64_t>(2).put<uint32_t>(1).put<uint32_t>(0).put<uint32_t>(2).put<uint32_t>(1);
  w.put<uint64_t>(9).put(-1.0).put(2.0).put(3.0).put<uint8_t>(1).put<uint8_t>(2).put<uint8_t>(3).put(0.25);
  w.put<uint64_t>(0);
  return w.bytes;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

// root/images/{a,b,c}.png and root/sparse/0/{cameras,images}.{txt|bin}.
void write_colmap_scene(const fs::path& root, bool binary) {
  for (const char* name : {"a", "b", "c"}) write_test_png(root / "images" / (std::string(name) + ".png"), 8, 6);
  const fs::path sparse = root / "sparse" / "0";
  if (binary) {
    write_bytes(sparse / "cameras.bin", cameras_bin());
    write_bytes(sparse / "images.bin", images_bin());
  } else {
    write_text(sparse / "cameras.txt", kCamerasTxt);
    write_text(sparse / "images.txt", images_txt());
  }
}

// COLMAP's projection, written out independently of semfield's camera code (distortion excepted).
Eigen::Vector3d colmap_camera_point(const TestImage& im, const Eigen::Vector3d& X) {
  const double n = std::sqrt(im.q[0] * im.q[0] + im.q[1] * im.q[1] + im.q[2] * im.q[2] + im.q[3] * im.q[3]);
  const double w = im.q[0] / n, x = im.q[1] / n, y = im.q[2] / n, z = im.q[3] / n;
  Eigen::Matrix3d R;
  R << 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),  //
      2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),  //
      2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y);
  return R * X + Eigen::Vector3d(im.t[0], im.t[1], im.t[2]);
}

void expect_matches_colmap_projection(const Scene& scene) {
  ASSERT_EQ(scene.views.size(), 3u);
  for (const TestImage& im : kImages) {
    const View& view = scene.find_view(fs::path(im.name).stem().string());
    const Intrinsics& K = view.camera.intrinsics;
    for (const Eigen::Vector3d& X : {Eigen::Vector3d(0, 0, 0), Eigen::Vector3d(0.3, -0.2, 0.5),
                                     Eigen::Vector3d(-0.4, 0.1, -0.3)}) {
      const Eigen::Vector3d Xc = colmap_camera_point(im, X);
      ASSERT_GT(Xc.z(), 0);
      const Eigen::Vector2d p = distort(K, Eigen::Vector2d(Xc.x() / Xc.z(), Xc.y() / Xc.z()));
      Eigen::Vector2d uv;
      double depth = 0;
      ASSERT_TRUE(view.camera.world_to_pixel(scene.normalization.apply(X), &uv, &depth));
      EXPECT_NEAR(uv.x(), K.fx * p.x() + K.cx, 1e-9) << im.name;
      EXPECT_NEAR(uv.y(), K.fy * p.y() + K.cy, 1e-9) << im.name;
      EXPECT_NEAR(depth, Xc.z() * scene.normalization.scale, 1e-9) << im.name;
    }
  }
}

TEST(ColmapParser, TextModelMatchesColmapProjection) {
  TempDir dir;
  write_colmap_scene(dir.path(), false);
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.format, "colmap");
  EXPECT_TRUE(scene.unbounded);
  // Sorted by name; Auto = every:8, so view 0 ("a") evaluates.
  EXPECT_EQ(scene.views[0].name, "a");
  EXPECT_EQ(scene.views[0].split, Split::Test);
  EXPECT_EQ(scene.count(Split::Train), 2u);
  const Intrinsics& K = scene.find_view("b").camera.intrinsics;
  EXPECT_EQ(K.model, CameraModel::Pinhole);
  EXPECT_DOUBLE_EQ(K.fy, 11);
  const Intrinsics& Ka = scene.find_view("a").camera.intrinsics;
  EXPECT_EQ(Ka.model, CameraModel::OpenCV);
  EXPECT_DOUBLE_EQ(Ka.cx, 4.5);
  EXPECT_DOUBLE_EQ(Ka.distortion.k2, 0.01);
  EXPECT_DOUBLE_EQ(Ka.distortion.p2, -0.002);
  expect_matches_colmap_projection(scene);
  // Image b: identity rotation, t = (0,0,3): the camera sits at world (0,0,-3) and looks along +z.
  EXPECT_NEAR((scene.find_view("b").camera.forward() - Eigen::Vector3d(0, 0, 1)).norm(), 0.0, 1e-12);
}

TEST(ColmapParser, BinaryModelEqualsTextModel) {
  TempDir text_dir, bin_dir;
  write_colmap_scene(text_dir.path(), false);
  write_colmap_scene(bin_dir.path(), true);
  const Scene a = load_scene(text_dir.path()), b = load_scene(bin_dir.path());
  expect_matches_colmap_projection(b);
  ASSERT_EQ(a.views.size(), b.views.size());
  for (size_t i = 0; i < a.views.size(); ++i) {
    EXPECT_EQ(a.views[i].name, b.views[i].name);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) EXPECT_NEAR(a.views[i].camera.c2w(r, c), b.views[i].camera.c2w(r, c), 1e-12);
    EXPECT_EQ(a.views[i].camera.intrinsics.fx, b.views[i].camera.intrinsics.fx);
  }
}

TEST(ColmapParser, FindsModelAndImagesFromSeveralEntryPoints) {
  TempDir dir;
  write_colmap_scene(dir.path(), true);
  EXPECT_EQ(load_scene(dir / "sparse/0").views.size(), 3u);  // images in ../../images
  EXPECT_EQ(load_scene(dir / "sparse/0/cameras.bin").views.size(), 3u);
  // Images beside the model folder (sparse/images) are found too.
  TempDir flat;
  write_colmap_scene(flat.path(), false);
  fs::rename(flat / "images", flat / "sparse" / "images");
  EXPECT_EQ(load_scene(flat / "sparse/0").views.size(), 3u);
}

TEST(ColmapParser, MissingImageIsSkippedWithWarning) {
  TempDir dir;
  write_colmap_scene(dir.path(), false);
  fs::remove(dir / "images" / "c.png");
  LogCapture log;
  const Scene scene = load_scene(dir.path());
  EXPECT_EQ(scene.views.size(), 2u);
  EXPECT_THAT(log.text(), HasSubstr("images.txt: image 3 (c.png): image file not found"));
  for (const char* name : {"a", "b"}) fs::remove(dir / "images" / (std::string(name) + ".png"));
  EXPECT_THAT(input_error_of([&] { load_scene(dir.path()); }), HasSubstr("images.txt: none of the 3 images was found"));
}

TEST(ColmapParser, EveryCameraModel) {
  const auto K_of = [](const std::string& model, std::vector<double> params) {
    ColmapCamera cam;
    cam.id = 4;
    cam.model = model;
    cam.width = 100;
    cam.height = 80;
    cam.params = std::move(params);
    return colmap_intrinsics(cam, "cameras.txt");
  };
  Intrinsics K = K_of("SIMPLE_PINHOLE", {50, 40, 30});
  EXPECT_EQ(K.model, CameraModel::Pinhole);
  EXPECT_EQ(K.fx, 50);
  EXPECT_EQ(K.fy, 50);
  EXPECT_EQ(K.cx, 40);
  EXPECT_EQ(K.cy, 30);
  K = K_of("SIMPLE_RADIAL", {50, 40, 30, 0.1});
  EXPECT_EQ(K.model, CameraModel::OpenCV);
  EXPECT_EQ(K.distortion.k1, 0.1);
  EXPECT_EQ(K.distortion.k2, 0.0);
  K = K_of("RADIAL", {50, 40, 30, 0.1, 0.02});
  EXPECT_EQ(K.distortion.k2, 0.02);
  K = K_of("OPENCV_FISHEYE", {50, 51, 40, 30, 0.1, 0.02, 0.003, 0.0004});
  EXPECT_EQ(K.model, CameraModel::OpenCVFisheye);
  EXPECT_EQ(K.fy, 51);
  EXPECT_EQ(K.distortion.k3, 0.003);
  EXPECT_EQ(K.distortion.k4, 0.0004);
  K = K_of("FULL_OPENCV", {50, 51, 40, 30, 0.1, 0.02, 0.001, 0.002, 0.003, 0, 0, 0});
  EXPECT_EQ(K.model, CameraModel::OpenCV);
  EXPECT_EQ(K.distortion.p1, 0.001);
  EXPECT_EQ(K.distortion.p2, 0.002);
  EXPECT_EQ(K.distortion.k3, 0.003);
  EXPECT_THAT(input_error_of([&] { K_of("FULL_OPENCV", {50, 51, 40, 30, 0.1, 0.02, 0.001, 0.002, 0.003, 0.1, 0, 0}); }),
              HasSubstr("cameras.txt: camera 4 (FULL_OPENCV): params k4 k5 k6: the rational distortion terms"));
  EXPECT_THAT(input_error_of([&] { K_of("FOV", {50, 51, 40, 30, 0.9}); }),
              HasSubstr("cameras.txt: camera 4 (FOV): MODEL: unsupported camera model FOV"));
  EXPECT_THAT(input_error_of([&] { K_of("PINHOLE", {50, -1, 40, 30}); }),
              HasSubstr("cameras.txt: camera 4 (PINHOLE): focal lengths must be positive"));
}

TEST(ColmapModel, PointsParseInBothForms) {
  const auto bytes = points3d_bin();
  const auto bin = parse_colmap_points3d_bin(bytes.data(), bytes.size(), "points3D.bin");
  const auto txt = parse_colmap_points3d_txt(
      "# 3D point list\n7 0.1 0.2 0.3 255 128 0 0.5 1 0 2 1\n9 -1 2 3 1 2 3 0.25\n", "points3D.txt");
  for (const auto* points : {&bin, &txt}) {
    ASSERT_EQ(points->size(), 2u);
    EXPECT_EQ((*points)[0].id, 7u);
    EXPECT_EQ((*points)[0].xyz, Eigen::Vector3d(0.1, 0.2, 0.3));
    EXPECT_EQ((*points)[0].rgb[1], 128);
    EXPECT_EQ((*points)[0].track_length, 2u);
    EXPECT_EQ((*points)[1].track_length, 0u);
    EXPECT_EQ((*points)[1].error, 0.25);
  }
  const auto images = parse_colmap_images_txt(images_txt(), "images.txt");
  ASSERT_EQ(images.size(), 3u);
  EXPECT_EQ(images[0].n_points2d, 0u);
  EXPECT_EQ(images[1].n_points2d, 2u);
  const auto spaced = parse_colmap_images_txt("5 1 0 0 0 0 0 1 1 my photo 01.jpg\n\n", "images.txt");
  EXPECT_EQ(spaced.at(0).name, "my photo 01.jpg");
}

// Every proper prefix of a valid .bin file is truncated somewhere: each must be an InputError naming
// the file (never a crash, never success).
TEST(ColmapModel, EveryTruncatedBinaryIsALocatedError) {
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
      {"cameras.bin", cameras_bin()}, {"images.bin", images_bin()}, {"points3D.bin", points3d_bin()}};
  for (const auto& [name, bytes] : files) {
    for (size_t size = 0; size < bytes.size(); ++size) {
      const std::string msg = input_error_of([&, name = name, &bytes = bytes] {
        if (name == "cameras.bin") parse_colmap_cameras_bin(bytes.data(), size, name);
        else if (name == "images.bin") parse_colmap_images_bin(bytes.data(), size, name);
        else parse_colmap_points3d_bin(bytes.data(), size, name);
      });
      EXPECT_THAT(msg, HasSubstr(name + ": ")) << "prefix of " << size << " bytes";
      EXPECT_THAT(msg, ::testing::AnyOf(HasSubstr("truncated"), HasSubstr("claims"))) << msg;
    }
  }
  // Specific records and fields.
  const auto cams = cameras_bin();
  EXPECT_THAT(input_error_of([&] { parse_colmap_cameras_bin(cams.data(), cams.size() - 4, "cameras.bin"); }),
              HasSubstr("cameras.bin: camera 2 of 2 (id 2): params: truncated"));
  const auto imgs = images_bin();
  // Header, image 1 (no points), image 2 (two points), then 2 bytes into image 3's name "c.png".
  const size_t inside_third_name = 8 + (4 + 56 + 4 + 6 + 8) + (4 + 56 + 4 + 6 + 8 + 48) + 4 + 56 + 4 + 2;
  EXPECT_THAT(input_error_of([&] { parse_colmap_images_bin(imgs.data(), inside_third_name, "images.bin"); }),
              HasSubstr("images.bin: image 3 of 3 (id 3): name: truncated"));
  EXPECT_THAT(input_error_of([&] { parse_colmap_images_bin(imgs.data(), imgs.size() - 10, "images.bin"); }),
              HasSubstr("images.bin: image 3 of 3 (id 3): points2D: truncated"));
}

TEST(ColmapModel, BinaryCorruptionIsALocatedError) {
  auto cams = cameras_bin();
  const uint64_t huge = 1000000;
  std::memcpy(cams.data(), &huge, 8);
  EXPECT_THAT(input_error_of([&] { parse_colmap_cameras_bin(cams.data(), cams.size(), "cameras.bin"); }),
              HasSubstr("cameras.bin: num_cameras: claims 1000000 records"));
  cams = cameras_bin();
  const int32_t bad_model = 99;
  std::memcpy(cams.data() + 12, &bad_model, 4);
  EXPECT_THAT(input_error_of([&] { parse_colmap_cameras_bin(cams.data(), cams.size(), "cameras.bin"); }),
              HasSubstr("cameras.bin: camera 1 of 2 (id 1): model_id: unknown camera model id 99"));
  cams = cameras_bin();
  cams.push_back(0);
  EXPECT_THAT(input_error_of([&] { parse_colmap_cameras_bin(cams.data(), cams.size(), "cameras.bin"); }),
              HasSubstr("1 unexpected bytes after the last record"));
  auto imgs = images_bin();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(imgs.data() + 8 + 4 + 32, &nan, 8);  // first image's tx
  EXPECT_THAT(input_error_of([&] { parse_colmap_images_bin(imgs.data(), imgs.size(), "images.bin"); }),
              HasSubstr("images.bin: image 1 of 3 (id 1): tx: non-finite value"));
}

TEST(ColmapParser, TextErrorsNameFileLineAndField) {
  TempDir dir;
  write_colmap_scene(dir.path(), false);
  const fs::path sparse = dir / "sparse" / "0";
  const auto error_with = [&](const std::string& cameras, const std::string& images) {
    write_text(sparse / "cameras.txt", cameras);
    write_text(sparse / "images.txt", images);
    return input_error_of([&] { load_scene(dir.path()); });
  };
  EXPECT_THAT(error_with("1 PINHOLE abc 6 10 10 4 3\n", images_txt()),
              HasSubstr("cameras.txt: line 1: WIDTH: expected an integer"));
  EXPECT_THAT(error_with("# c\n1 PINHOLE 8 6 10 10 4\n", images_txt()),
              HasSubstr("cameras.txt: line 2: PARAMS: camera model PINHOLE takes 4 parameters, got 3"));
  EXPECT_THAT(error_with("1 PINHOLE 8 6 10 10 4 3\n1 PINHOLE 8 6 10 10 4 3\n", images_txt()),
              HasSubstr("cameras.txt: line 2: CAMERA_ID: duplicate camera id 1"));
  EXPECT_THAT(error_with("1 FOV 8 6 10 10 4 3 0.9\n2 PINHOLE 8 6 10 10 4 3\n", images_txt()),
              HasSubstr("cameras.txt: camera 1 (FOV): MODEL: unsupported camera model FOV"));
  EXPECT_THAT(error_with("2 PINHOLE 8 6 10 10 4 3\n", images_txt()),
              HasSubstr("images.txt: image 1 (b.png): CAMERA_ID: refers to camera 1, which cameras.txt does not"));
  EXPECT_THAT(error_with(kCamerasTxt, "1 1 0 0 nan 0 0 3 1 b.png\n\n"),
              HasSubstr("images.txt: line 1: QZ: non-finite value 'nan'"));
  EXPECT_THAT(error_with(kCamerasTxt, "1 0 0 0 0 0 0 3 1 b.png\n\n"),
              HasSubstr("images.txt: image 1 (b.png): rotation quaternion is zero"));
  EXPECT_THAT(error_with(kCamerasTxt, "1 1 0 0 0 0 0 3 1\n\n"), HasSubstr("images.txt: line 1: NAME: missing image name"));
  EXPECT_THAT(error_with(kCamerasTxt, "1 1 0 0 0 0 0 3 1 b.png\n1 2\n"),
              HasSubstr("images.txt: line 2: POINTS2D: expected X Y POINT3D_ID triples, got 2 values"));
  EXPECT_THAT(error_with("1 PINHOLE 16 6 10 10 4 3\n", "1 1 0 0 0 0 0 3 1 b.png\n\n"),
              HasSubstr("images.txt: image 1 (b.png): image " + (dir.path() / "images" / "b.png").string() +
                        " is 8x6 but the camera says 16x6"));
}

}  // namespace
