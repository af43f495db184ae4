// LLFF scene parser (poses_bounds.npy + images/).
#include "semfield/data/llff_parser.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "semfield/core/error.h"
#include "semfield/data/parser_common.h"
#include "semfield/io/npy.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

// Every element as double (float64 files keep full precision).
std::vector<double> as_doubles(const Array& array) {
  std::vector<double> out(static_cast<size_t>(array.numel()));
  if (array.dtype == DType::F64) {
    std::memcpy(out.data(), array.data.data(), out.size() * sizeof(double));
  } else {
    const std::vector<float> values = array.to_float();
    std::copy(values.begin(), values.end(), out.begin());
  }
  return out;
}

}  // namespace

ParsedScene parse_llff(const fs::path& folder) {
  const fs::path file = folder / "poses_bounds.npy";
  const Array array = read_npy(file);
  if (array.shape.size() != 2 || array.shape[1] != 17 || array.shape[0] < 1) {
    std::string shape;
    for (int64_t d : array.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    fail_input(file, "shape", "expected [N, 17] (N >= 1), got [{}]", shape);
  }
  if (array.dtype == DType::Bool) fail_input(file, "dtype", "expected a floating-point array");
  const std::vector<double> values = as_doubles(array);
  const size_t n = static_cast<size_t>(array.shape[0]);

  const fs::path image_dir = folder / "images";
  std::error_code ec;
  if (!fs::is_directory(image_dir, ec)) fail_input(image_dir, "", "LLFF image folder not found");
  std::vector<fs::path> images;
  for (const auto& entry : fs::directory_iterator(image_dir, ec))
    if (entry.is_regular_file() && has_image_extension(entry.path())) images.push_back(entry.path());
  std::sort(images.begin(), images.end());
  if (images.size() != n)
    fail_input(image_dir, "", "found {} images but {} has {} poses (one per image, in name order)", images.size(),
               file.filename().string(), n);

  ParsedScene scene;
  scene.format = "llff";
  scene.root = folder;
  scene.framing = Framing::RealCapture;
  scene.auto_rule.kind = SplitRule::Kind::EveryNth;
  scene.auto_rule.every_nth = 8;
  double near = 0.0, far = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double* row = values.data() + i * 17;
    const std::string where = fmt::format("row {}", i);
    for (int k = 0; k < 17; ++k)
      if (!std::isfinite(row[k])) fail_input(file, where, "non-finite value in column {}", k);
    // Row-major 3x5: entry (r, c) is row[5 r + c].
    const auto m = [&](int r, int c) { return row[5 * r + c]; };
    Eigen::Matrix4d c2w = Eigen::Matrix4d::Identity();
    for (int r = 0; r < 3; ++r) {
      // LLFF [down, right, back] -> OpenGL [right, up, back]: x = right, y = -down, z = back.
      c2w(r, 0) = m(r, 1);
      c2w(r, 1) = -m(r, 0);
      c2w(r, 2) = m(r, 2);
      c2w(r, 3) = m(r, 3);
    }
    check_pose(c2w, file, where);
    const double height = m(0, 4), width = m(1, 4), focal = m(2, 4);
    if (height < 1 || width < 1 || std::floor(height) != height || std::floor(width) != width || height > (1 << 20) ||
        width > (1 << 20))
      fail_input(file, where + ": H W", "image size must be positive integers, got {} x {}", height, width);
    const double row_near = row[15], row_far = row[16];
    if (!(row_near > 0.0 && row_far > row_near))
      fail_input(file, where + ": bounds", "expected 0 < near < far, got near={} far={}", row_near, row_far);
    near = i == 0 ? row_near : std::min(near, row_near);
    far = i == 0 ? row_far : std::max(far, row_far);

    FrameRecord record;
    record.name = image_stem(images[i]);
    record.image_path = images[i];
    record.camera.c2w = c2w;
    Intrinsics& K = record.camera.intrinsics;
    K.width = static_cast<int>(width);
    K.height = static_cast<int>(height);
    K.fx = K.fy = focal;
    K.cx = 0.5 * width;
    K.cy = 0.5 * height;
    check_intrinsics(K, file, where);
    record.source = file;
    record.field = where;
    scene.frames.push_back(std::move(record));
  }
  scene.near = near;
  scene.far = far;
  return scene;
}

}  // namespace semfield
