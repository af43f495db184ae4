// Parsing and validation of the viewer's requests: cameras, prompts, modes, session ids and text.
#include "semfield/serve/view_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;

JsonNode body(const std::string& text) { return parse_request_body(text, "/api/frame"); }

// The message of the InputError `f` throws (fails the test when it throws nothing or something else).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

const char* kIdentity = "[1,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1]";

std::string camera(const std::string& c2w, const std::string& focal, const std::string& width,
                   const std::string& height) {
  return R"({"camera": {"c2w": )" + c2w + R"(, "focal": )" + focal + R"(, "width": )" + width + R"(, "height": )" +
         height + "}}";
}

TEST(ViewRequest, ParsesACamera) {
  const Camera c = parse_view_camera(body(camera(kIdentity, "1.5", "200", "100")).at("camera"));
  EXPECT_EQ(c.intrinsics.width, 200);
  EXPECT_EQ(c.intrinsics.height, 100);
  EXPECT_DOUBLE_EQ(c.intrinsics.fx, 300);
  EXPECT_DOUBLE_EQ(c.intrinsics.fy, 300);
  EXPECT_DOUBLE_EQ(c.intrinsics.cx, 100);
  EXPECT_DOUBLE_EQ(c.intrinsics.cy, 50);
  EXPECT_DOUBLE_EQ(c.c2w(2, 3), 3);
  // Nested 4x4 arrays are accepted too, and view_camera_json round-trips.
  const Camera again = parse_view_camera(JsonNode::parse_text(view_camera_json(c).dump(), "x"));
  for (int i = 0; i < 16; ++i) EXPECT_DOUBLE_EQ(again.c2w(i / 4, i % 4), c.c2w(i / 4, i % 4)) << i;
  EXPECT_DOUBLE_EQ(again.intrinsics.fx, c.intrinsics.fx);
  const Camera nested = parse_view_camera(
      body(camera("[[1,0,0,0],[0,1,0,0],[0,0,1,3],[0,0,0,1]]", "1", "64", "64")).at("camera"));
  EXPECT_DOUBLE_EQ(nested.c2w(2, 3), 3);
}

TEST(ViewRequest, RejectsBadCamerasNamingTheField) {
  auto parse = [](const std::string& text) { return error_of([&] { parse_view_camera(body(text).at("camera")); }); };
  EXPECT_THAT(parse(camera(kIdentity, "1", "100000", "64")), HasSubstr("camera.width: must be between 8 and 1024"));
  EXPECT_THAT(parse(camera(kIdentity, "1", "64", "0")), HasSubstr("camera.height"));
  EXPECT_THAT(parse(camera(kIdentity, "1", "64.5", "64")), HasSubstr("camera.width: expected an integer"));
  EXPECT_THAT(parse(camera(kIdentity, "1", "\"64\"", "64")), HasSubstr("camera.width: expected a number"));
  EXPECT_THAT(parse(camera(kIdentity, "-1", "64", "64")), HasSubstr("camera.focal: must be in"));
  EXPECT_THAT(parse(camera(kIdentity, "1e308", "64", "64")), HasSubstr("camera.focal"));
  EXPECT_THAT(parse(camera("[2,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1]", "1", "64", "64")),
              HasSubstr("camera.c2w: the rotation part is not orthonormal"));
  EXPECT_THAT(parse(camera("[1,0,0,1e9, 0,1,0,0, 0,0,1,3, 0,0,0,1]", "1", "64", "64")),
              HasSubstr("camera.c2w: the camera position is farther"));
  EXPECT_THAT(parse(camera("[1,0,0,0, 0,1,0,0, 0,0,1,3, 1,0,0,1]", "1", "64", "64")),
              HasSubstr("camera.c2w: the last row"));
  EXPECT_THAT(parse(camera("[1,0,0]", "1", "64", "64")), HasSubstr("camera.c2w"));
  EXPECT_THAT(parse(camera("\"identity\"", "1", "64", "64")), HasSubstr("camera.c2w"));
  EXPECT_THAT(parse(R"({"camera": {"c2w": [1,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1], "focal": 1, "width": 64}})"),
              HasSubstr("camera.height: missing required key"));
  EXPECT_THAT(parse(R"({"camera": {"c2w": [1,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1], "focal": 1, "width": 64,
                        "height": 64, "fov": 3}})"),
              HasSubstr("fov"));
  EXPECT_THAT(parse(R"({"camera": [1, 2]})"), HasSubstr("camera: must be an object"));
}

TEST(ViewRequest, RejectsMalformedBodies) {
  EXPECT_THAT(error_of([] { body("{\"session\": "); }), HasSubstr("/api/frame"));
  EXPECT_THAT(error_of([] { body("not json at all"); }), HasSubstr("/api/frame"));
  EXPECT_THAT(error_of([] { body("[1, 2, 3]"); }), HasSubstr("must be a JSON object"));
  EXPECT_THAT(error_of([] { body(""); }), HasSubstr("/api/frame"));
  // JSON has no NaN or infinity literals; an overflowing number is not finite either.
  EXPECT_THAT(error_of([] { body(camera("[NaN,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1]", "1", "64", "64")); }),
              HasSubstr("/api/frame"));
  EXPECT_THAT(error_of([] {
                parse_view_camera(body(camera("[1e999,0,0,0, 0,1,0,0, 0,0,1,3, 0,0,0,1]", "1", "64", "64")).at("camera"));
              }),
              HasSubstr("/api/frame"));
  // Deep nesting neither crashes nor passes.
  const std::string deep = "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  const JsonNode nested = body(deep);
  EXPECT_THAT(error_of([&] { parse_view_camera(nested.at("a")); }), HasSubstr("a"));
}

TEST(ViewRequest, ParsesModesSessionsAndText) {
  EXPECT_EQ(parse_render_mode(body(R"({"mode": "pca"})").at("mode")), RenderMode::Pca);
  EXPECT_STREQ(render_mode_name(parse_render_mode(body(R"({"mode": "relevancy"})").at("mode"))), "relevancy");
  EXPECT_THAT(error_of([] { parse_render_mode(body(R"({"mode": "normals"})").at("mode")); }),
              HasSubstr("mode: unknown render mode \"normals\""));
  EXPECT_EQ(parse_session_id(body(R"({"session": "tab-1_A"})")), "tab-1_A");
  EXPECT_THAT(error_of([] { parse_session_id(body(R"({"session": "../../etc"})")); }), HasSubstr("session: must be"));
  EXPECT_THAT(error_of([] { parse_session_id(body(R"({"session": ""})")); }), HasSubstr("session"));
  EXPECT_THAT(error_of([] { parse_session_id(body(R"({"session": 12})")); }), HasSubstr("session: expected a string"));
  EXPECT_THAT(error_of([] { parse_session_id(body(R"({"other": 1})")); }), HasSubstr("session"));
  EXPECT_FALSE(valid_session_id(std::string(65, 'a')));
  EXPECT_TRUE(valid_session_id(std::string(64, 'a')));
  EXPECT_FALSE(valid_session_id("a b"));
  EXPECT_EQ(parse_query_text(body(R"({"text": "a red ball"})").at("text")), "a red ball");
  EXPECT_THAT(error_of([] { parse_query_text(body(R"({"text": "  "})").at("text")); }), HasSubstr("text: must not be"));
  const std::string long_text = R"({"text": ")" + std::string(201, 'x') + "\"}";
  EXPECT_THAT(error_of([&] { parse_query_text(body(long_text).at("text")); }), HasSubstr("at most 200"));
}

TEST(ViewRequest, ParsesPrompts) {
  const Prompts p = parse_prompts(body(R"({"positive": [[1, 2], [3.5, 4]], "negative": [[5, 6]],
                                           "box": [0, 0, 9, 9]})"),
                                  10, 10);
  ASSERT_EQ(p.positive.size(), 2u);
  EXPECT_DOUBLE_EQ(p.positive[1].x(), 3.5);
  ASSERT_EQ(p.negative.size(), 1u);
  ASSERT_TRUE(p.box.has_value());
  EXPECT_DOUBLE_EQ((*p.box)[2], 9);
  const Prompts box_only = parse_prompts(body(R"({"box": [1, 1, 2, 2]})"), 10, 10);
  EXPECT_TRUE(box_only.positive.empty());

  auto parse = [](const std::string& text) { return error_of([&] { parse_prompts(body(text), 10, 10); }); };
  EXPECT_THAT(parse(R"({"positive": [[10, 2]]})"), HasSubstr("positive[0]: click 10,2 lies outside the 10 x 10 view"));
  EXPECT_THAT(parse(R"({"positive": [[-1, 2]]})"), HasSubstr("positive[0]"));
  EXPECT_THAT(parse(R"({"positive": [[1]]})"), HasSubstr("positive[0]: a click must be [x, y]"));
  EXPECT_THAT(parse(R"({"positive": [[1, "a"]]})"), HasSubstr("positive[0]"));
  EXPECT_THAT(parse(R"({"positive": 3})"), HasSubstr("positive: must be an array"));
  EXPECT_THAT(parse(R"({"negative": [[1, 1]]})"), HasSubstr("give at least one positive click or a box"));
  EXPECT_THAT(parse(R"({"box": [5, 5, 1, 1]})"), HasSubstr("box: is inverted"));
  EXPECT_THAT(parse(R"({"box": [0, 0, 10, 5]})"), HasSubstr("box: lies outside"));
  EXPECT_THAT(parse(R"({"box": [0, 0, 1]})"), HasSubstr("box: must be"));
  std::string many = R"({"positive": [)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "[1, 1]";
  EXPECT_THAT(parse(many + "]}"), HasSubstr("at most 64 clicks"));
}

}  // namespace
}  // namespace semfield
