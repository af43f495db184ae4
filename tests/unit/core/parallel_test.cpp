// parallel_for: every index once, exceptions reach the caller, thread count respected.
#include "semfield/core/parallel.h"

#include <set>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace semfield {
namespace {

TEST(ParallelFor, VisitsEveryIndexOnce) {
  set_parallel_threads(2);
  std::vector<std::atomic<int>> hits(1001);
  parallel_for(0, 1001, 7, [&](int64_t b, int64_t e) {
    ASSERT_LE(e - b, 7);
    for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
  });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
  parallel_for(5, 5, 1, [&](int64_t, int64_t) { FAIL() << "empty range must not call fn"; });
  set_parallel_threads(0);
}

TEST(ParallelFor, RethrowsTheFirstError) {
  set_parallel_threads(2);
  EXPECT_THROW(parallel_for(0, 100, 1,
                            [](int64_t b, int64_t) {
                              if (b == 37) throw std::runtime_error("chunk 37");
                            }),
               std::runtime_error);
  set_parallel_threads(0);
}

TEST(ParallelFor, UsesAtMostTheConfiguredThreads) {
  set_parallel_threads(1);
  std::set<std::thread::id> ids;
  std::mutex m;
  parallel_for(0, 64, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(*ids.begin(), std::this_thread::get_id());
  set_parallel_threads(0);
}

}  // namespace
}  // namespace semfield
