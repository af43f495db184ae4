// Parsing and checking of click/box prompts.
#include "semfield/segment/prompts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;

std::string usage_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

TEST(Prompts, ParsesPointsAndBoxes) {
  EXPECT_EQ(parse_point("12,30.5", "--click"), Eigen::Vector2d(12, 30.5));
  EXPECT_EQ(parse_point(" 1 , 2 ", "--click"), Eigen::Vector2d(1, 2));
  EXPECT_EQ(parse_box("1,2,3,4", "--box"), Eigen::Vector4d(1, 2, 3, 4));
}

TEST(Prompts, RejectsMalformedText) {
  for (const char* bad : {"", "1", "1,2,3", "a,2", "1,", ",1", "1,,2", "1,nan", "1,inf", "1;2"})
    EXPECT_THAT(usage_message([&] { parse_point(bad, "--click"); }), HasSubstr("--click")) << bad;
  EXPECT_THAT(usage_message([] { parse_box("1,2,3", "--box"); }), HasSubstr("x0,y0,x1,y1"));
  EXPECT_THAT(usage_message([] { parse_box("5,2,3,4", "--box"); }), HasSubstr("x0 <= x1"));
}

TEST(Prompts, ChecksClicksAgainstTheImage) {
  Prompts prompts;
  EXPECT_THAT(usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); }), HasSubstr("at least one --click"));
  prompts.negative.emplace_back(3, 3);
  EXPECT_THAT(usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); }), HasSubstr("negative clicks alone"));
  prompts.positive.emplace_back(63.4, 47.4);  // pixel centres at integers: the image is [-0.5, 63.5) x [-0.5, 47.5)
  prompts.negative.emplace_back(-0.5, -0.5);
  EXPECT_NO_THROW(check_prompts(prompts, 64, 48, "r_1"));
  prompts.positive.emplace_back(63.5, 10);
  EXPECT_THAT(usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); }),
              HasSubstr("click 63.5,10 lies outside view r_1 (64 x 48 pixels: x in [-0.5, 63.5), y in [-0.5, 47.5))"));
  prompts.positive.pop_back();
  prompts.positive.emplace_back(64, 10);
  const std::string message = usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); });
  EXPECT_THAT(message, HasSubstr("click 64,10 lies outside view r_1"));
  EXPECT_THAT(message, HasSubstr("64 x 48"));
  prompts.positive.pop_back();
  prompts.negative.emplace_back(-1, 0);
  EXPECT_THAT(usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); }), HasSubstr("negative click -1,0"));
  prompts.negative.pop_back();
  prompts.box = Eigen::Vector4d(0, 0, 10, 48);
  EXPECT_THAT(usage_message([&] { check_prompts(prompts, 64, 48, "r_1"); }), HasSubstr("box corner 10,48"));
  Prompts box_only;
  box_only.box = Eigen::Vector4d(0, 0, 10, 10);
  EXPECT_NO_THROW(check_prompts(box_only, 64, 48, "r_1"));
}

TEST(Prompts, ClickPixelIsTheNearestCentreClamped) {
  EXPECT_EQ(click_pixel({3.7, 2.2}, 8, 8), Eigen::Vector2i(4, 2));  // centres at integers: the nearest centre
  EXPECT_EQ(click_pixel({3.49, 2.5}, 8, 8), Eigen::Vector2i(3, 3));
  EXPECT_EQ(click_pixel({-0.5, 7.4}, 8, 8), Eigen::Vector2i(0, 7));
  EXPECT_EQ(click_pixel({8.0, -1.0}, 8, 8), Eigen::Vector2i(7, 0));
}

}  // namespace
}  // namespace semfield
