// Checks and lookups every format parser shares.
#include "semfield/data/parser_common.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <Eigen/Geometry>

#include "semfield/core/error.h"

namespace semfield {

namespace fs = std::filesystem;

bool is_file(const fs::path& path) {
  std::error_code ec;  // a permission error or dangling link simply means "not a usable file"
  return fs::is_regular_file(path, ec);
}

std::optional<fs::path> find_image_file(const fs::path& base, const std::string& relative) {
  if (relative.empty()) return std::nullopt;
  const fs::path direct = (base / relative).lexically_normal();
  if (is_file(direct)) return direct;
  for (const char* ext : {".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG"}) {
    fs::path candidate = direct;
    candidate += ext;
    if (is_file(candidate)) return candidate;
  }
  return std::nullopt;
}

void check_pose(const Eigen::Matrix4d& c2w, const fs::path& file, const std::string& field) {
  if (!c2w.allFinite()) fail_input(file, field, "pose has non-finite entries");
  const Eigen::RowVector4d bottom = c2w.row(3);
  if ((bottom - Eigen::RowVector4d(0, 0, 0, 1)).cwiseAbs().maxCoeff() > 1e-6)
    fail_input(file, field, "last row of the 4x4 pose must be [0, 0, 0, 1], got [{}, {}, {}, {}]", bottom(0),
               bottom(1), bottom(2), bottom(3));
  const Eigen::Matrix3d R = c2w.block<3, 3>(0, 0);
  const double error = (R.transpose() * R - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  if (error > 1e-2 || R.determinant() <= 0.0)
    fail_input(file, field,
               "rotation part of the pose is not a rotation (|R^T R - I| = {:.3g}, det = {:.3g}); "
               "expected an orthonormal camera-to-world matrix",
               error, R.determinant());
}

void check_intrinsics(const Intrinsics& K, const fs::path& file, const std::string& field) {
  const std::string where = field.empty() ? std::string("camera") : field;
  if (K.width <= 0 || K.height <= 0 || K.width > (1 << 20) || K.height > (1 << 20))
    fail_input(file, where, "image size must be positive, got {}x{}", K.width, K.height);
  if (!(std::isfinite(K.fx) && K.fx > 0 && std::isfinite(K.fy) && K.fy > 0))
    fail_input(file, where, "focal lengths must be positive and finite, got fx={} fy={}", K.fx, K.fy);
  if (!std::isfinite(K.cx) || !std::isfinite(K.cy))
    fail_input(file, where, "principal point must be finite, got cx={} cy={}", K.cx, K.cy);
  const Distortion& d = K.distortion;
  for (double v : {d.k1, d.k2, d.k3, d.k4, d.p1, d.p2})
    if (!std::isfinite(v)) fail_input(file, where, "distortion coefficients must be finite");
}

Eigen::Matrix4d c2w_from_opencv_w2c(const Eigen::Vector4d& qvec, const Eigen::Vector3d& tvec, const fs::path& file,
                                    const std::string& field) {
  if (!qvec.allFinite() || !tvec.allFinite()) fail_input(file, field, "pose has non-finite values");
  const double norm = qvec.norm();
  if (norm < 1e-8) fail_input(file, field, "rotation quaternion is zero");
  const Eigen::Quaterniond q(qvec(0) / norm, qvec(1) / norm, qvec(2) / norm, qvec(3) / norm);
  const Eigen::Matrix3d R_w2c = q.toRotationMatrix();
  Eigen::Matrix4d c2w_opencv = Eigen::Matrix4d::Identity();
  c2w_opencv.block<3, 3>(0, 0) = R_w2c.transpose();
  c2w_opencv.block<3, 1>(0, 3) = -R_w2c.transpose() * tvec;
  return flip_opencv_opengl(c2w_opencv);
}

std::string image_stem(const fs::path& path) { return path.stem().string(); }

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

}  // namespace semfield
