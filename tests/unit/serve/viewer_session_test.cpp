// Session store and frame cache: isolation between tabs, least-recently-used eviction, concurrent use.
#include "semfield/serve/viewer_session.h"

#include <thread>

#include <gtest/gtest.h>

#include "semfield/serve/render_cache.h"

namespace semfield {
namespace {

TEST(SessionStore, KeepsTabsApart) {
  SessionStore store(4);
  const auto a = store.get("a"), b = store.get("b");
  ASSERT_NE(a, b);
  a->text = "chair";
  a->latest_frame = 7;
  EXPECT_EQ(store.get("a"), a);
  EXPECT_EQ(store.get("b")->text, "");
  EXPECT_EQ(store.get("b")->latest_frame.load(), 0);
  EXPECT_EQ(store.find("c"), nullptr);
  EXPECT_EQ(store.size(), 2u);
}

TEST(SessionStore, EvictsTheLeastRecentlyUsed) {
  SessionStore store(3);
  const auto a = store.get("a");
  store.get("b");
  store.get("c");
  store.find("a");  // a is now the most recent; b the least
  store.get("d");
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.find("b"), nullptr);
  EXPECT_EQ(store.find("a"), a);
  EXPECT_EQ(store.ids(), (std::vector<std::string>{"a", "d", "c"}));
  // An evicted session stays usable by whoever holds it; asking again makes a fresh one.
  store.get("e");
  store.get("f");
  store.get("g");
  EXPECT_EQ(store.find("a"), nullptr);
  a->text = "still alive";
  EXPECT_EQ(store.get("a")->text, "");
}

TEST(SessionStore, ManyThreadsAtOnce) {
  SessionStore store(5);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 2000; ++i) {
        const auto s = store.get("s" + std::to_string((t * 7 + i) % 11));
        s->latest_frame.fetch_add(1);
        store.find("s" + std::to_string(i % 13));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.size(), 5u);
}

CachedFrame frame(uint8_t byte) { return CachedFrame{{byte}, {}, {}}; }

TEST(RenderCache, LeastRecentlyUsedFrames) {
  RenderCache cache(2);
  cache.put("a", frame(1));
  cache.put("b", frame(2));
  ASSERT_TRUE(cache.find("a").has_value());
  cache.put("c", frame(3));  // evicts b
  EXPECT_FALSE(cache.find("b").has_value());
  EXPECT_EQ(cache.find("a")->png, std::vector<uint8_t>{1});
  cache.put("a", frame(4));
  EXPECT_EQ(cache.find("a")->png, std::vector<uint8_t>{4});
  EXPECT_EQ(cache.size(), 2u);
  RenderCache off(0);
  off.put("a", frame(1));
  EXPECT_FALSE(off.find("a").has_value());
}

}  // namespace
}  // namespace semfield
