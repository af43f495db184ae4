// Tests for RadianceConfig JSON: round trip, overrides, unknown keys and validation errors.
#include "semfield/models/radiance_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

using namespace semfield;
using ::testing::HasSubstr;

namespace {

std::string error_of(const nlohmann::json& j) {
  try {
    radiance_config_from_json(j, "cfg.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(RadianceConfig, RoundTripKeepsEveryField) {
  RadianceConfig c;
  c.train.steps = 1234;
  c.train.loss = "mse";
  c.train.distortion_weight = 0.01;
  c.field.finest_resolution = 512;
  c.render.background = "black";
  const RadianceConfig back = radiance_config_from_json(to_json(c), "x");
  EXPECT_EQ(to_json(back), to_json(radiance_config_from_json(to_json(back), "x")));
  EXPECT_EQ(back.train.steps, 1234);
  EXPECT_EQ(back.train.loss, "mse");
  EXPECT_DOUBLE_EQ(back.train.distortion_weight, 0.01);
  EXPECT_EQ(back.field.finest_resolution, 512);
  EXPECT_EQ(back.render.background, "black");
}

TEST(RadianceConfig, PartialOverrideKeepsDefaults) {
  const RadianceConfig c = radiance_config_from_json({{"train", {{"lr", 0.005}}}}, "x");
  EXPECT_DOUBLE_EQ(c.train.lr, 0.005);
  EXPECT_EQ(c.train.steps, RadianceConfig().train.steps);
  // per_level_scale is derived from finest_resolution: 16 * b^15 == 2048.
  EXPECT_NEAR(16.0 * std::pow(c.field.grid.per_level_scale, 15), 2048.0, 1e-6);
}

TEST(RadianceConfig, ErrorsNameFileAndKey) {
  EXPECT_THAT(error_of({{"train", {{"stepz", 5}}}}), HasSubstr("cfg.json: train.stepz: unknown key"));
  EXPECT_THAT(error_of({{"trian", {}}}), HasSubstr("cfg.json: trian: unknown key"));
  EXPECT_THAT(error_of({{"train", {{"steps", "many"}}}}), HasSubstr("train.steps: expected a number"));
  EXPECT_THAT(error_of({{"train", {{"loss", "l1"}}}}), HasSubstr("train.loss"));
  EXPECT_THAT(error_of({{"train", {{"distortion_weight", -0.1}}}}), HasSubstr("train.distortion_weight: expected"));
  EXPECT_THAT(error_of({{"field", {{"n_levels", 0}}}}), HasSubstr("field.n_levels: expected 1..32"));
  EXPECT_THAT(error_of({{"render", {{"grid_resolution", 4}}}}), HasSubstr("render.grid_resolution"));
  EXPECT_THAT(error_of(nlohmann::json::array()), HasSubstr("expected a JSON object"));
}

}  // namespace
