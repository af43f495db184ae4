// COLMAP sparse reconstruction scene parser.
#include "semfield/data/colmap_parser.h"

#include <algorithm>
#include <map>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/data/parser_common.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

std::string join_paths(const std::vector<fs::path>& paths) {
  std::string out;
  for (const fs::path& p : paths) out += (out.empty() ? "" : ", ") + p.string();
  return out;
}

// The .bin file if present, else the .txt one; empty if neither exists.
fs::path model_file(const fs::path& dir, const std::string& stem) {
  if (is_file(dir / (stem + ".bin"))) return dir / (stem + ".bin");
  if (is_file(dir / (stem + ".txt"))) return dir / (stem + ".txt");
  return {};
}

}  // namespace

Intrinsics colmap_intrinsics(const ColmapCamera& camera, const fs::path& origin) {
  const std::string where = fmt::format("camera {} ({})", camera.id, camera.model);
  const int n_params = colmap_model_num_params(camera.model);
  const std::vector<double>& p = camera.params;
  if (n_params >= 0 && static_cast<size_t>(n_params) != p.size())
    fail_input(origin, where, "expected {} parameters, got {}", n_params, p.size());
  Intrinsics K;
  K.width = static_cast<int>(std::clamp<int64_t>(camera.width, 0, int64_t{1} << 30));
  K.height = static_cast<int>(std::clamp<int64_t>(camera.height, 0, int64_t{1} << 30));
  Distortion& d = K.distortion;
  const std::string& m = camera.model;
  if (m == "SIMPLE_PINHOLE") {  // f, cx, cy
    K.fx = K.fy = p[0];
    K.cx = p[1];
    K.cy = p[2];
  } else if (m == "PINHOLE") {  // fx, fy, cx, cy
    K.fx = p[0];
    K.fy = p[1];
    K.cx = p[2];
    K.cy = p[3];
  } else if (m == "SIMPLE_RADIAL" || m == "RADIAL") {  // f, cx, cy, k1 [, k2]
    K.model = CameraModel::OpenCV;
    K.fx = K.fy = p[0];
    K.cx = p[1];
    K.cy = p[2];
    d.k1 = p[3];
    if (m == "RADIAL") d.k2 = p[4];
  } else if (m == "OPENCV" || m == "FULL_OPENCV") {  // fx, fy, cx, cy, k1, k2, p1, p2 [, k3, k4, k5, k6]
    K.model = CameraModel::OpenCV;
    K.fx = p[0];
    K.fy = p[1];
    K.cx = p[2];
    K.cy = p[3];
    d.k1 = p[4];
    d.k2 = p[5];
    d.p1 = p[6];
    d.p2 = p[7];
    if (m == "FULL_OPENCV") {
      d.k3 = p[8];
      if (p[9] != 0 || p[10] != 0 || p[11] != 0)
        fail_input(origin, where + ": params k4 k5 k6",
                   "the rational distortion terms of FULL_OPENCV are not supported (got k4={} k5={} k6={}; "
                   "they must be 0)",
                   p[9], p[10], p[11]);
    }
  } else if (m == "OPENCV_FISHEYE") {  // fx, fy, cx, cy, k1, k2, k3, k4
    K.model = CameraModel::OpenCVFisheye;
    K.fx = p[0];
    K.fy = p[1];
    K.cx = p[2];
    K.cy = p[3];
    d.k1 = p[4];
    d.k2 = p[5];
    d.k3 = p[6];
    d.k4 = p[7];
  } else {
    fail_input(origin, where + ": MODEL",
               "unsupported camera model {} (supported: SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV, "
               "OPENCV_FISHEYE, FULL_OPENCV)",
               m);
  }
  check_intrinsics(K, origin, where);
  return K;
}

bool is_colmap_model_dir(const fs::path& dir) {
  return !model_file(dir, "cameras").empty() && !model_file(dir, "images").empty();
}

ParsedScene parse_colmap(const fs::path& sparse_dir, const fs::path& root) {
  const fs::path cameras_file = model_file(sparse_dir, "cameras");
  const fs::path images_file = model_file(sparse_dir, "images");
  if (cameras_file.empty()) fail_input(sparse_dir, "", "no cameras.bin or cameras.txt");
  if (images_file.empty()) fail_input(sparse_dir, "", "no images.bin or images.txt");

  const std::vector<ColmapCamera> cameras = read_colmap_cameras(cameras_file);
  std::vector<ColmapImage> images = read_colmap_images(images_file);
  std::map<uint32_t, const ColmapCamera*> camera_by_id;
  for (const ColmapCamera& cam : cameras) camera_by_id[cam.id] = &cam;
  std::sort(images.begin(), images.end(),
            [](const ColmapImage& a, const ColmapImage& b) { return a.name < b.name; });

  std::vector<fs::path> image_dirs;
  for (const fs::path& dir : {root / "images", sparse_dir / ".." / "images", sparse_dir / ".." / ".." / "images",
                              sparse_dir / "images"}) {
    const fs::path normal = dir.lexically_normal();
    if (std::find(image_dirs.begin(), image_dirs.end(), normal) == image_dirs.end()) image_dirs.push_back(normal);
  }

  ParsedScene scene;
  scene.format = "colmap";
  scene.root = root;
  scene.framing = Framing::RealCapture;
  scene.auto_rule.kind = SplitRule::Kind::EveryNth;
  scene.auto_rule.every_nth = 8;
  std::map<uint32_t, Intrinsics> intrinsics_by_camera;
  for (const ColmapImage& image : images) {
    const std::string where = fmt::format("image {} ({})", image.id, image.name);
    const auto cam = camera_by_id.find(image.camera_id);
    if (cam == camera_by_id.end())
      fail_input(images_file, where + ": CAMERA_ID", "refers to camera {}, which {} does not define",
                 image.camera_id, cameras_file.filename().string());
    auto K = intrinsics_by_camera.find(image.camera_id);
    if (K == intrinsics_by_camera.end())
      K = intrinsics_by_camera.emplace(image.camera_id, colmap_intrinsics(*cam->second, cameras_file)).first;

    std::optional<fs::path> found;
    for (const fs::path& dir : image_dirs) {
      if (is_file(dir / image.name)) {
        found = (dir / image.name).lexically_normal();
        break;
      }
    }
    if (!found) {
      log::warn("{}: {}: image file not found in {}; skipping this view", images_file.string(), where,
                join_paths(image_dirs));
      continue;
    }
    FrameRecord record;
    record.name = image_stem(image.name);
    record.image_path = *found;
    record.camera.intrinsics = K->second;
    record.camera.c2w = c2w_from_opencv_w2c(image.qvec, image.tvec, images_file, where);
    record.source = images_file;
    record.field = where;
    scene.frames.push_back(std::move(record));
  }
  if (scene.frames.empty())
    fail_input(images_file, "",
               images.empty() ? std::string("no registered images")
                              : fmt::format("none of the {} images was found (looked in {})", images.size(),
                                            join_paths(image_dirs)));
  return scene;
}

}  // namespace semfield
