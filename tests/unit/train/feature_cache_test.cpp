// SAN's FIFO feature cache: eviction order, capacity, and the reuse ratio.
#include "semfield/train/feature_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"

namespace semfield {
namespace {

AugmentedView tagged(float tag) {
  AugmentedView view;
  view.maps.push_back(at::full({1}, tag));
  return view;
}

TEST(FeatureCache, EvictsOldestFirst) {
  FeatureCache cache(3, 0.75, 1);
  for (int i = 0; i < 5; ++i) cache.push(tagged(static_cast<float>(i)));
  ASSERT_EQ(cache.size(), 3u);
  // Entries 0 and 1 left first; 2, 3, 4 remain in insertion order.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cache.entries()[i].maps[0].item<float>(), static_cast<float>(i + 2));
  EXPECT_EQ(cache.fresh(), 5);
}

TEST(FeatureCache, ReusesAtTheConfiguredRatioOnceFilled) {
  FeatureCache cache(256, 0.75, 7);
  EXPECT_FALSE(cache.should_reuse());  // nothing to reuse yet
  int64_t reuse = 0, fresh = 0;
  for (int step = 0; step < 20000; ++step) {
    if (cache.should_reuse()) {
      cache.sample();
      ++reuse;
    } else {
      cache.push(tagged(static_cast<float>(step)));
      ++fresh;
    }
  }
  EXPECT_EQ(cache.reused(), reuse);
  EXPECT_EQ(cache.fresh(), fresh);
  EXPECT_NEAR(static_cast<double>(reuse) / 20000.0, 0.75, 0.015);
  EXPECT_EQ(cache.size(), 256u);
  // Samples cover the whole cache, not just its newest entries.
  std::set<float> seen;
  for (int i = 0; i < 4000; ++i) seen.insert(cache.sample().maps[0].item<float>());
  EXPECT_GT(seen.size(), 240u);
}

TEST(FeatureCache, RejectsBadSettings) {
  EXPECT_THROW(FeatureCache(0, 0.5, 0), UsageError);
  EXPECT_THROW(FeatureCache(4, 1.0, 0), UsageError);
  EXPECT_THROW(FeatureCache(4, -0.1, 0), UsageError);
}

}  // namespace
}  // namespace semfield
