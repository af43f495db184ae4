// Tests for SceneFrame JSON round trip and validation.
#include "semfield/models/scene_frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

using namespace semfield;

TEST(SceneFrame, JsonRoundTrip) {
  SceneFrame f;
  f.aabb_min = {-2, -1, -0.5f};
  f.aabb_max = {2, 1, 0.5f};
  f.unbounded = true;
  f.normalization.scale = 0.25;
  f.normalization.offset = {0.1, 0.2, 0.3};
  f.has_alpha = true;
  const SceneFrame g = SceneFrame::from_json(f.to_json(), "ck");
  EXPECT_EQ(g.aabb_min, f.aabb_min);
  EXPECT_EQ(g.aabb_max, f.aabb_max);
  EXPECT_TRUE(g.unbounded);
  EXPECT_DOUBLE_EQ(g.normalization.scale, 0.25);
  EXPECT_EQ(g.normalization.offset, f.normalization.offset);
  EXPECT_TRUE(g.has_alpha);
}

TEST(SceneFrame, RejectsEmptyBoxAndBadScale) {
  SceneFrame f;
  nlohmann::json j = f.to_json();
  j["aabb_max"] = {-1, 1, 1};
  EXPECT_THROW(SceneFrame::from_json(j, "ck"), InputError);
  j = f.to_json();
  j["normalization_scale"] = 0;
  EXPECT_THROW(SceneFrame::from_json(j, "ck"), InputError);
  j = f.to_json();
  j.erase("unbounded");
  EXPECT_THAT([&] { SceneFrame::from_json(j, "ck"); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("unbounded: missing required key")));
}
