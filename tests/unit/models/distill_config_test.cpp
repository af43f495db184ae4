// Distillation settings: JSON round trip and errors naming the key.
#include "semfield/models/distill_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;

TEST(DistillConfig, RoundTripsEveryField) {
  DistillConfig c;
  c.teacher = "labels:semantic";
  c.surface = true;
  c.steps = 123;
  c.cache_reuse = 0.5;
  c.field.head_hidden = 32;
  c.laser.adapted_class_targets = true;
  const DistillConfig back = distill_config_from_json(to_json(c), "x.json");
  EXPECT_EQ(to_json(back), to_json(c));
  EXPECT_EQ(back.field.head_hidden, 32);
  EXPECT_TRUE(back.surface);
  EXPECT_TRUE(back.laser.adapted_class_targets);
  // A Laser config written before a key existed reads with that key's default (class targets from the original
  // tokens).
  const DistillConfig old = distill_config_from_json({{"laser", {{"enabled", true}, {"adapter", true}}}}, "old.json");
  EXPECT_TRUE(old.laser.adapter);
  EXPECT_FALSE(old.laser.adapted_class_targets);
}

TEST(DistillConfig, ErrorsNameTheKey) {
  auto error_of = [](const nlohmann::json& j) {
    try {
      distill_config_from_json(j, "cfg.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(error_of({{"stepz", 3}}), HasSubstr("stepz"));
  EXPECT_THAT(error_of({{"cache_reuse", 1.5}}), HasSubstr("cache_reuse"));
  EXPECT_THAT(error_of({{"field", {{"head_hidden", "wide"}}}}), HasSubstr("head_hidden"));
  EXPECT_THAT(error_of({{"steps", -1}}), HasSubstr("cfg.json"));
  EXPECT_THAT(error_of(nlohmann::json::array()), HasSubstr("expected a JSON object"));
}

}  // namespace
}  // namespace semfield
