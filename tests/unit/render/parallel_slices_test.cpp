// Tests for slice-parallel evaluation: slicing, coverage, single-threaded LibTorch inside, grad mode,
// nested calls, exceptions, and SerialTorchScope.
#include "semfield/render/parallel_slices.h"

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/core/parallel.h"

namespace semfield {
namespace {

struct Slice {
  int64_t begin, length;
  bool operator<(const Slice& o) const { return begin < o.begin; }
};

std::vector<Slice> record_slices(int64_t n, int64_t slice) {
  std::mutex mutex;
  std::vector<Slice> out;
  parallel_slices(n, slice, [&](int64_t b, int64_t len) {
    std::lock_guard<std::mutex> lock(mutex);
    out.push_back({b, len});
  });
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ParallelSlices, FixedSizeSlicesWhateverTheThreadCount) {
  const int threads = parallel_threads();
  for (int t : {1, 2, 3}) {
    set_parallel_threads(t);
    std::vector<Slice> s = record_slices(10000, 3000);
    ASSERT_EQ(s.size(), 4u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(s[i].begin, int64_t(i) * 3000);
      EXPECT_EQ(s[i].length, 3000);
    }
    EXPECT_EQ(s[3].begin, 9000);
    EXPECT_EQ(s[3].length, 1000);
    s = record_slices(7, 4000);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].length, 7);
    EXPECT_TRUE(record_slices(0, 10).empty());
    EXPECT_TRUE(record_slices(-3, 10).empty());
  }
  set_parallel_threads(threads);
}

TEST(ParallelSlices, EveryRowOnceAndLibTorchSingleThreadedInside) {
  const int threads = parallel_threads();
  set_parallel_threads(2);
  const int64_t n = 100000;
  std::vector<int> hits(n, 0);
  std::atomic<int> max_torch_threads{0};
  std::mutex mutex;
  std::set<std::thread::id> ids;
  parallel_slices(n, 1000, [&](int64_t b, int64_t len) {
    for (int64_t i = b; i < b + len; ++i) ++hits[i];
    max_torch_threads = std::max(max_torch_threads.load(), at::get_num_threads());
    // Real tensor work inside, as the renderer's field does.
    const at::Tensor x = torch::rand({len, 8});
    EXPECT_EQ(at::mm(x, x.t().narrow(1, 0, 4)).size(0), len);
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << i;
  EXPECT_EQ(max_torch_threads.load(), 1);
  EXPECT_LE(ids.size(), 2u);
  set_parallel_threads(threads);
}

TEST(ParallelSlices, CarriesGradModeAndRunsNestedCallsSerially) {
  std::atomic<int> grad_on{0}, nested_rows{0};
  {
    const at::NoGradGuard no_grad;
    parallel_slices(8192, 1024, [&](int64_t, int64_t) {
      grad_on += at::GradMode::is_enabled();
      parallel_slices(100, 10, [&](int64_t, int64_t len) { nested_rows += int(len); });
    });
  }
  EXPECT_EQ(grad_on.load(), 0);
  EXPECT_EQ(nested_rows.load(), 8 * 100);
  parallel_slices(4096, 1024, [&](int64_t, int64_t) { grad_on += at::GradMode::is_enabled(); });
  EXPECT_EQ(grad_on.load(), 4);
}

TEST(ParallelSlices, RethrowsTheFirstErrorAfterAllThreadsFinish) {
  std::atomic<int> running{0};
  EXPECT_THROW(parallel_slices(64 * 1024, 1024,
                               [&](int64_t b, int64_t) {
                                 ++running;
                                 if (b == 5 * 1024) throw std::runtime_error("slice failed");
                                 --running;
                               }),
               std::runtime_error);
  EXPECT_EQ(running.load(), 1);  // only the failed slice is left counted: nothing still runs
  // Still usable afterwards.
  std::atomic<int64_t> rows{0};
  parallel_slices(5000, 1000, [&](int64_t, int64_t len) { rows += len; });
  EXPECT_EQ(rows.load(), 5000);
}

TEST(SerialTorchScope, MakesThisThreadsOpsSingleThreadedAndRestores) {
  const int before = at::get_num_threads();
  {
    const SerialTorchScope serial;
    EXPECT_EQ(at::get_num_threads(), 1);
  }
  EXPECT_EQ(at::get_num_threads(), before);
}

}  // namespace
}  // namespace semfield
