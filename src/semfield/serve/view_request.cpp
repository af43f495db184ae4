// Parsing and validation of the viewer's JSON requests.
#include "semfield/serve/view_request.h"

#include <cctype>
#include <cmath>

#include <Eigen/Dense>

#include "semfield/core/error.h"

namespace semfield {

RenderMode parse_render_mode(const JsonNode& node) {
  const std::string name = node.as_string();
  if (name == "rgb") return RenderMode::Rgb;
  if (name == "depth") return RenderMode::Depth;
  if (name == "pca") return RenderMode::Pca;
  if (name == "labels") return RenderMode::Labels;
  if (name == "relevancy") return RenderMode::Relevancy;
  node.fail("unknown render mode \"" + name + "\" (expected rgb, depth, pca, labels or relevancy)");
}

const char* render_mode_name(RenderMode mode) {
  switch (mode) {
    case RenderMode::Rgb: return "rgb";
    case RenderMode::Depth: return "depth";
    case RenderMode::Pca: return "pca";
    case RenderMode::Labels: return "labels";
    case RenderMode::Relevancy: return "relevancy";
  }
  return "rgb";
}

JsonNode parse_request_body(const std::string& body, const std::string& endpoint) {
  const JsonNode node = JsonNode::parse_text(body, endpoint);
  if (!node.is_object()) node.fail("the request body must be a JSON object");
  return node;
}

namespace {

int parse_side(const JsonNode& camera, const std::string& key, const ViewLimits& limits) {
  const JsonNode node = camera.at(key);
  const int64_t side = node.as_int();
  if (side < limits.min_side || side > limits.max_side)
    node.fail(fmt::format("must be between {} and {} pixels, got {}", limits.min_side, limits.max_side, side));
  return static_cast<int>(side);
}

Eigen::Matrix4d parse_pose(const JsonNode& node) {
  if (node.is_array() && node.size() == 16) {
    const std::vector<double> v = node.as_doubles();
    Eigen::Matrix4d m;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) m(r, c) = v[static_cast<size_t>(r * 4 + c)];
    return m;
  }
  return node.as_matrix4();
}

Eigen::Vector2d parse_xy(const JsonNode& node, int width, int height) {
  if (!node.is_array() || node.size() != 2) node.fail("a click must be [x, y]");
  const std::vector<double> v = node.as_doubles();
  // Pixel centres at integers: the image spans [-0.5, width - 0.5) (docs/segmentation.md, Conventions).
  if (!(v[0] >= -0.5 && v[0] < width - 0.5 && v[1] >= -0.5 && v[1] < height - 0.5))
    node.fail(fmt::format("click {},{} lies outside the {} x {} view", v[0], v[1], width, height));
  return {v[0], v[1]};
}

std::vector<Eigen::Vector2d> parse_points(const JsonNode& body, const std::string& key, int width, int height) {
  std::vector<Eigen::Vector2d> points;
  const std::optional<JsonNode> list = body.find(key);
  if (!list) return points;
  if (!list->is_array()) list->fail("must be an array of [x, y] clicks");
  for (size_t i = 0; i < list->size(); ++i) points.push_back(parse_xy(list->at(i), width, height));
  return points;
}

}  // namespace

Camera parse_view_camera(const JsonNode& node, const ViewLimits& limits) {
  if (!node.is_object()) node.fail("must be an object {c2w, focal, width, height}");
  node.reject_unknown_keys({"c2w", "focal", "width", "height"});
  Camera camera;
  const int width = parse_side(node, "width", limits);
  const int height = parse_side(node, "height", limits);
  const JsonNode focal_node = node.at("focal");
  const double focal = focal_node.as_double();
  // Focal lengths outside this range mean fields of view above ~179 degrees or below ~0.06 degrees.
  if (!(focal >= 0.005 && focal <= 1000)) focal_node.fail(fmt::format("must be in [0.005, 1000], got {}", focal));
  const JsonNode pose_node = node.at("c2w");
  const Eigen::Matrix4d c2w = parse_pose(pose_node);
  const Eigen::Matrix3d rotation = c2w.block<3, 3>(0, 0);
  const double error = (rotation.transpose() * rotation - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  if (!(error < 1e-3)) pose_node.fail(fmt::format("the rotation part is not orthonormal (error {:.3g})", error));
  if (!(c2w.block<3, 1>(0, 3).norm() <= limits.max_coordinate))
    pose_node.fail(fmt::format("the camera position is farther than {} from the origin", limits.max_coordinate));
  if ((c2w.row(3) - Eigen::RowVector4d(0, 0, 0, 1)).cwiseAbs().maxCoeff() > 1e-9)
    pose_node.fail("the last row must be [0, 0, 0, 1]");
  camera.c2w = c2w;
  camera.intrinsics.width = width;
  camera.intrinsics.height = height;
  camera.intrinsics.fx = camera.intrinsics.fy = focal * width;
  camera.intrinsics.cx = width / 2.0;
  camera.intrinsics.cy = height / 2.0;
  return camera;
}

nlohmann::json view_camera_json(const Camera& camera) {
  nlohmann::json pose = nlohmann::json::array();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) pose.push_back(camera.c2w(r, c));
  return {{"c2w", pose},
          {"focal", camera.intrinsics.fx / camera.intrinsics.width},
          {"width", camera.intrinsics.width},
          {"height", camera.intrinsics.height}};
}

Prompts parse_prompts(const JsonNode& node, int width, int height, const ViewLimits& limits) {
  Prompts prompts;
  prompts.positive = parse_points(node, "positive", width, height);
  prompts.negative = parse_points(node, "negative", width, height);
  if (prompts.positive.size() + prompts.negative.size() > static_cast<size_t>(limits.max_points))
    node.fail(fmt::format("at most {} clicks per request", limits.max_points));
  if (const std::optional<JsonNode> box = node.find("box")) {
    if (!box->is_array() || box->size() != 4) box->fail("must be [x0, y0, x1, y1]");
    const std::vector<double> v = box->as_doubles();
    if (!(v[0] <= v[2] && v[1] <= v[3])) box->fail("is inverted (need x0 <= x1 and y0 <= y1)");
    if (!(v[0] >= -0.5 && v[1] >= -0.5 && v[2] < width - 0.5 && v[3] < height - 0.5))
      box->fail(fmt::format("lies outside the {} x {} view", width, height));
    prompts.box = Eigen::Vector4d(v[0], v[1], v[2], v[3]);
  }
  if (prompts.positive.empty() && !prompts.box) node.fail("give at least one positive click or a box");
  return prompts;
}

bool valid_session_id(const std::string& text) {
  if (text.empty() || text.size() > 64) return false;
  for (const char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

std::string parse_session_id(const JsonNode& node) {
  const JsonNode id = node.at("session");
  const std::string text = id.as_string();
  if (!valid_session_id(text)) id.fail("must be 1 to 64 characters of letters, digits, '-' or '_'");
  return text;
}

std::string parse_query_text(const JsonNode& node, const ViewLimits& limits) {
  const std::string text = node.as_string();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) node.fail("must not be empty");
  if (text.size() > limits.max_text_length)
    node.fail(fmt::format("must be at most {} characters, got {}", limits.max_text_length, text.size()));
  return text;
}

}  // namespace semfield
