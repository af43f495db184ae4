// Tests for split names, split rules and view lookup.
#include "semfield/data/scene.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace {

using namespace semfield;
using ::testing::HasSubstr;

std::string usage_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no UsageError>";
}

TEST(Split, NamesRoundTrip) {
  for (Split s : {Split::Train, Split::Val, Split::Test}) EXPECT_EQ(parse_split(split_name(s)), s);
  EXPECT_THAT(usage_error_of([] { parse_split("training"); }), HasSubstr("unknown split 'training'"));
}

TEST(SplitRule, ParsesEveryForm) {
  EXPECT_EQ(SplitRule::parse("auto").kind, SplitRule::Kind::Auto);
  EXPECT_EQ(SplitRule::parse("files").kind, SplitRule::Kind::Files);
  EXPECT_EQ(SplitRule::parse("all").kind, SplitRule::Kind::All);
  const SplitRule every = SplitRule::parse("every:5");
  EXPECT_EQ(every.kind, SplitRule::Kind::EveryNth);
  EXPECT_EQ(every.every_nth, 5);
  const SplitRule fraction = SplitRule::parse("fraction:0.75");
  EXPECT_EQ(fraction.kind, SplitRule::Kind::Fraction);
  EXPECT_DOUBLE_EQ(fraction.train_fraction, 0.75);
}

TEST(SplitRule, RejectsBadText) {
  for (const char* bad : {"every:", "every:1", "every:x", "every:3x", "fraction:0", "fraction:1.5", "fraction:abc",
                          "fraction:", "sometimes", ""}) {
    EXPECT_THROW(SplitRule::parse(bad), UsageError) << bad;
  }
  EXPECT_THAT(usage_error_of([] { SplitRule::parse("every:1"); }), HasSubstr("N >= 2"));
  EXPECT_THAT(usage_error_of([] { SplitRule::parse("nope"); }), HasSubstr("expected auto, files, every:N"));
}

TEST(SplitRule, EveryNthPutsEveryNthViewInTest) {
  const auto splits = split_by_rule(SplitRule::parse("every:8"), 17);
  for (size_t i = 0; i < splits.size(); ++i)
    EXPECT_EQ(splits[i], (i % 8 == 0) ? Split::Test : Split::Train) << i;
}

TEST(SplitRule, FractionSpreadsTrainViewsLikeNerfstudio) {
  // n = 10, f = 0.9: 9 train views at floor(linspace(0, 9, 9)) = 0 1 2 3 4 5 6 7 9; view 8 evaluates.
  const auto splits = split_by_rule(SplitRule::parse("fraction:0.9"), 10);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(splits[i], i == 8 ? Split::Test : Split::Train) << i;
  // n = 5, f = 0.5: ceil(2.5) = 3 train views at 0, 2, 4.
  const auto half = split_by_rule(SplitRule::parse("fraction:0.5"), 5);
  EXPECT_EQ(half, (std::vector<Split>{Split::Train, Split::Test, Split::Train, Split::Test, Split::Train}));
  EXPECT_EQ(split_by_rule(SplitRule::parse("fraction:1"), 3), std::vector<Split>(3, Split::Train));
  EXPECT_TRUE(split_by_rule(SplitRule::parse("fraction:0.5"), 0).empty());
  EXPECT_EQ(split_by_rule(SplitRule::parse("all"), 4), std::vector<Split>(4, Split::Train));
}

TEST(Scene, SplitCountAndFindView) {
  Scene scene;
  for (int i = 0; i < 5; ++i) {
    View view;
    view.name = "r_" + std::to_string(i);
    view.split = i < 3 ? Split::Train : Split::Test;
    scene.views.push_back(view);
  }
  EXPECT_EQ(scene.count(Split::Train), 3u);
  EXPECT_EQ(scene.count(Split::Test), 2u);
  EXPECT_EQ(scene.count(Split::Val), 0u);
  ASSERT_EQ(scene.split(Split::Test).size(), 2u);
  EXPECT_EQ(scene.split(Split::Test)[1]->name, "r_4");
  EXPECT_EQ(scene.find_view("r_2").name, "r_2");
  EXPECT_EQ(scene.find_view("test:0").name, "r_3");
  EXPECT_EQ(scene.find_view("train:2").name, "r_2");
  EXPECT_THAT(usage_error_of([&] { scene.find_view("test:2"); }), HasSubstr("the test split has 2 views"));
  EXPECT_THAT(usage_error_of([&] { scene.find_view("val:0"); }), HasSubstr("the val split has 0 views"));
  const std::string msg = usage_error_of([&] { scene.find_view("r_9"); });
  EXPECT_THAT(msg, HasSubstr("no view named 'r_9'"));
  EXPECT_THAT(msg, HasSubstr("r_0, r_1, r_2"));
  EXPECT_THAT(msg, HasSubstr("test:0"));
}

}  // namespace
