// User prompts for click/box segmentation: positive and negative points and boxes in a view's pixels, parsed from
// the command line and checked against the image.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace semfield {

/// Pixel conventions (geometry/camera.h): a click (x, y) names pixel column x and row y; fractional values
/// are allowed. The click's continuous image position is (x + 0.5, y + 0.5), which is where its ray goes
/// (SAM adds the same half pixel to its point prompts). Valid clicks satisfy 0 <= x < W, 0 <= y < H.
/// A box (x0, y0, x1, y1) covers pixel columns x0..x1 and rows y0..y1 inclusive (x0 <= x1, y0 <= y1).
struct Prompts {
  std::vector<Eigen::Vector2d> positive;
  std::vector<Eigen::Vector2d> negative;
  std::optional<Eigen::Vector4d> box;

  bool empty() const { return positive.empty() && negative.empty() && !box; }
};

/// "x,y" -> a point; UsageError naming `option` for anything else (missing numbers, non-finite values).
Eigen::Vector2d parse_point(const std::string& text, const std::string& option);
/// "x0,y0,x1,y1" -> a box; UsageError naming `option` for a malformed or inverted box.
Eigen::Vector4d parse_box(const std::string& text, const std::string& option);

/// UsageError unless the prompts hold a positive click or a box, and every click and box corner lies in a
/// width x height image; messages name the view and the offending prompt.
void check_prompts(const Prompts& prompts, int width, int height, const std::string& view_name);

/// Pixel (column, row) holding a click — the nearest pixel centre (centres at integers) — clamped into the image.
Eigen::Vector2i click_pixel(const Eigen::Vector2d& click, int width, int height);

}  // namespace semfield
