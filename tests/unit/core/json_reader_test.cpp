// Tests for JsonNode: located errors, typed access, matrices.
#include "semfield/core/json_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_support.h"

using semfield::InputError;
using semfield::JsonNode;
using semfield::test::error_of;
using ::testing::HasSubstr;

namespace {

TEST(JsonReader, MalformedJsonNamesFileLineAndColumn) {
  const std::string msg = error_of([] { JsonNode::parse_text("{\n  \"a\": 1,\n  \"b\": }", "x.json"); });
  EXPECT_THAT(msg, HasSubstr("x.json"));
  EXPECT_THAT(msg, HasSubstr("line 3"));
}

TEST(JsonReader, MissingKeyNamesKeyPath) {
  const auto doc = JsonNode::parse_text(R"({"frames":[{"file_path":"a"}]})", "t.json");
  const std::string msg = error_of([&] { doc.at("frames").at(size_t{0}).at("transform_matrix"); });
  EXPECT_THAT(msg, HasSubstr("t.json: frames[0].transform_matrix: missing required key"));
}

TEST(JsonReader, WrongTypeAndNonFinite) {
  const auto doc = JsonNode::parse_text(R"({"fl_x":"abc","w":1.5,"ok":2})", "t.json");
  EXPECT_THAT(error_of([&] { doc.at("fl_x").as_double(); }), HasSubstr("fl_x: expected a number, got string"));
  EXPECT_THAT(error_of([&] { doc.at("w").as_int(); }), HasSubstr("expected an integer"));
  EXPECT_EQ(doc.at("ok").as_int(), 2);
  EXPECT_EQ(doc.double_or("missing", 3.5), 3.5);
}

TEST(JsonReader, Matrix4AcceptsThreeOrFourRowsAndRejectsOthers) {
  const auto doc = JsonNode::parse_text(
      R"({"m4":[[1,0,0,1],[0,1,0,2],[0,0,1,3],[0,0,0,1]],"m3":[[1,0,0,1],[0,1,0,2],[0,0,1,3]],
          "bad":[[1,0,0],[0,1,0],[0,0,1]],"two":[[1,0,0,0],[0,1,0,0]]})",
      "t.json");
  EXPECT_DOUBLE_EQ(doc.at("m4").as_matrix4()(1, 3), 2.0);
  EXPECT_DOUBLE_EQ(doc.at("m3").as_matrix4()(3, 3), 1.0);
  EXPECT_THAT(error_of([&] { doc.at("bad").as_matrix4(); }), HasSubstr("bad[0]: expected a row of 4 numbers"));
  EXPECT_THAT(error_of([&] { doc.at("two").as_matrix4(); }), HasSubstr("expected a 4x4 matrix, got 2 rows"));
}

TEST(JsonReader, RejectUnknownKeys) {
  const auto doc = JsonNode::parse_text(R"({"steps":1,"stpes":2})", "c.json");
  EXPECT_THAT(error_of([&] { doc.reject_unknown_keys({"steps"}); }), HasSubstr("c.json: stpes: unknown key"));
}

TEST(JsonReader, MissingFile) {
  EXPECT_THAT(error_of([] { JsonNode::parse_file("/nonexistent/t.json"); }),
              HasSubstr("/nonexistent/t.json: file not found"));
}

}  // namespace
