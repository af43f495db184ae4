// The caching CPU allocator: reuse of large blocks, raw allocations (oneDNN), and correctness of results.
#include "semfield/kernels/caching_allocator.h"

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

namespace semfield::kernels {
namespace {

TEST(CachingAllocator, ReusesLargeBlocks) {
  install_caching_cpu_allocator();
  release_cached_cpu_memory();
  { at::Tensor a = at::empty({1 << 22}); }  // 16 MiB, returned to the cache
  const auto before = caching_allocator_stats();
  EXPECT_GE(before.cached_bytes, size_t(16) << 20);
  { at::Tensor b = at::empty({1 << 22}); }
  EXPECT_EQ(caching_allocator_stats().hits, before.hits + 1);
}

TEST(CachingAllocator, RawAllocationsRoundTrip) {
  install_caching_cpu_allocator();
  c10::Allocator* allocator = c10::GetCPUAllocator();
  ASSERT_NE(allocator->raw_deleter(), nullptr);
  for (const size_t bytes : {size_t(64), size_t(3) << 20}) {
    void* p = allocator->raw_allocate(bytes);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[bytes - 1] = 1;
    allocator->raw_deallocate(p);
  }
}

TEST(CachingAllocator, OneDnnConvolutionWorks) {
  // oneDNN takes its scratch memory through raw_allocate/raw_deallocate.
  install_caching_cpu_allocator();
  at::manual_seed(0);
  const at::Tensor x = at::randn({1, 8, 64, 64}), w = at::randn({8, 1, 5, 1});
  const at::Tensor y = at::conv2d(x, w, c10::nullopt, at::IntArrayRef{1, 1}, at::IntArrayRef{2, 0},
                                  at::IntArrayRef{1, 1}, 8);
  // Against the same depthwise convolution as shifted sums.
  const at::Tensor padded = at::constant_pad_nd(x, {0, 0, 2, 2});
  at::Tensor expected = at::zeros_like(x);
  for (int k = 0; k < 5; ++k) expected += padded.narrow(2, k, 64) * w.select(2, k).view({1, 8, 1, 1});
  EXPECT_TRUE(at::allclose(y, expected, 1e-4, 1e-4));
}

}  // namespace
}  // namespace semfield::kernels
