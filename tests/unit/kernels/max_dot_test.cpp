// The per-pixel best match kernel against its LibTorch reference: row counts around the register passes (1..8 rows
// per pass), pixel counts with vector tails, one and two threads, no rows, and misuse errors.
#include "semfield/kernels/max_dot.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "semfield/core/parallel.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;

TEST(MaxDot, MatchesReferenceForRowAndPixelCounts) {
  at::manual_seed(3);
  for (const int64_t c : {1, 3, 24}) {
    for (const int64_t n : {1, 7, 8, 9, 4096 + 5, 70000}) {
      const at::Tensor features = at::randn({c, n});
      for (const int64_t k : {1, 2, 5, 8, 9, 13, 17}) {
        const at::Tensor rows = at::randn({k, c});
        test::expect_close(max_dot(features, rows), max_dot_reference(features, rows), 1e-5, 1e-5,
                           "C " + std::to_string(c) + " N " + std::to_string(n) + " K " + std::to_string(k));
      }
    }
  }
}

TEST(MaxDot, SameOnOneAndTwoThreads) {
  at::manual_seed(4);
  const at::Tensor features = at::randn({24, 50000}), rows = at::randn({13, 24});
  const int saved = parallel_threads();
  set_parallel_threads(1);
  const at::Tensor one = max_dot(features, rows);
  set_parallel_threads(2);
  const at::Tensor two = max_dot(features, rows);
  set_parallel_threads(saved);
  EXPECT_TRUE(at::equal(one, two));  // each pixel's sums run in the same order whatever the split
}

TEST(MaxDot, NoRowsGiveMinusInfinityAndNoPixelsNothing) {
  const at::Tensor none = max_dot(at::randn({4, 10}), at::zeros({0, 4}));
  ASSERT_EQ(none.numel(), 10);
  EXPECT_TRUE(none.eq(-std::numeric_limits<float>::infinity()).all().item<bool>());
  EXPECT_EQ(max_dot(at::zeros({4, 0}), at::randn({3, 4})).numel(), 0);
}

TEST(MaxDot, RejectsMisuse) {
  EXPECT_THAT(test::error_of([] { max_dot(at::randn({4, 10}), at::randn({3, 5})); }), HasSubstr("rows"));
  EXPECT_THAT(test::error_of([] { max_dot(at::randn({10, 4}).t(), at::randn({3, 10})); }), HasSubstr("contiguous"));
  EXPECT_THAT(test::error_of([] { max_dot(at::randn({4, 10}, at::kDouble), at::randn({3, 4})); }),
              HasSubstr("features"));
  EXPECT_THAT(test::error_of([] { max_dot(at::randn({4}), at::randn({3, 4})); }), HasSubstr("features"));
}

}  // namespace
}  // namespace semfield::kernels
