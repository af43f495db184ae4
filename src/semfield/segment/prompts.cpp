// Parsing and validation of click/box prompts.
#include "semfield/segment/prompts.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "semfield/core/error.h"

namespace semfield {

namespace {

std::vector<double> parse_numbers(const std::string& text, size_t count, const std::string& option,
                                  const char* form) {
  std::vector<double> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    const bool blank = item.find_first_not_of(" \t") == std::string::npos;
    if (blank || end == item.c_str() || std::string(end).find_first_not_of(" \t") != std::string::npos ||
        !std::isfinite(v))
      fail_usage("{} '{}': expected {} (finite numbers separated by commas)", option, text, form);
    values.push_back(v);
  }
  if (values.size() != count || (!text.empty() && text.back() == ','))
    fail_usage("{} '{}': expected {} ({} numbers)", option, text, form, count);
  return values;
}

std::string describe(const Eigen::Vector2d& p) { return fmt::format("{:g},{:g}", p.x(), p.y()); }

}  // namespace

Eigen::Vector2d parse_point(const std::string& text, const std::string& option) {
  const std::vector<double> v = parse_numbers(text, 2, option, "x,y");
  return {v[0], v[1]};
}

Eigen::Vector4d parse_box(const std::string& text, const std::string& option) {
  const std::vector<double> v = parse_numbers(text, 4, option, "x0,y0,x1,y1");
  if (v[2] < v[0] || v[3] < v[1])
    fail_usage("{} '{}': the second corner must be right of and below the first (x0 <= x1, y0 <= y1)", option, text);
  return {v[0], v[1], v[2], v[3]};
}

void check_prompts(const Prompts& prompts, int width, int height, const std::string& view_name) {
  if (prompts.positive.empty() && !prompts.box)
    fail_usage("segment: give at least one --click x,y or a --box x0,y0,x1,y1 (negative clicks alone select nothing)");
  auto check = [&](const Eigen::Vector2d& p, const char* what) {
    // Pixel centres at integers: pixel i covers [i - 0.5, i + 0.5), the image [-0.5, width - 0.5).
    if (!(p.x() >= -0.5 && p.x() < width - 0.5 && p.y() >= -0.5 && p.y() < height - 0.5))
      fail_usage("{} {} lies outside view {} ({} x {} pixels: x in [-0.5, {:g}), y in [-0.5, {:g}))", what, describe(p),
                 view_name, width, height, width - 0.5, height - 0.5);
  };
  for (const Eigen::Vector2d& p : prompts.positive) check(p, "click");
  for (const Eigen::Vector2d& p : prompts.negative) check(p, "negative click");
  if (prompts.box) {
    const Eigen::Vector4d& b = *prompts.box;
    check({b[0], b[1]}, "box corner");
    check({b[2], b[3]}, "box corner");
  }
}

Eigen::Vector2i click_pixel(const Eigen::Vector2d& click, int width, int height) {
  // Click convention: pixel centres at integers (the click's ray goes through (x + 0.5, y + 0.5)), so pixel i holds
  // the clicks in [i - 0.5, i + 0.5).
  const int x = std::clamp(static_cast<int>(std::floor(click.x() + 0.5)), 0, width - 1);
  const int y = std::clamp(static_cast<int>(std::floor(click.y() + 0.5)), 0, height - 1);
  return {x, y};
}

}  // namespace semfield
