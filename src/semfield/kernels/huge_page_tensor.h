// Large CPU tensors backed by transparent huge pages, for the kernels' big outputs and scratch buffers.
//
// Why: a fresh 32 MB tensor (the hash-grid features of 2^18 points) is first touched one 4 KB page at a
// time, and under this project's VMs each page fault costs ~1.5 us: ~12 ms per 32 MB, as much as the
// kernel itself. Asking for transparent huge pages (madvise(MADV_HUGEPAGE), which works in the common
// "madvise" THP mode) makes that 16 faults of 2 MB: ~1.3 ms. Small tensors use the default allocator.
// The tensors are ordinary resizable CPU tensors; only their storage's allocator differs.
#pragma once

#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>

#include "semfield/kernels/torch_compat.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace semfield::kernels::detail {

class HugePageAllocator final : public PortableCpuAllocator {
 public:
  static constexpr size_t kHugePage = size_t(2) << 20;

  c10::DataPtr allocate_bytes(size_t nbytes) const override {
    if (nbytes == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    const size_t size = (nbytes + kHugePage - 1) / kHugePage * kHugePage;
    void* data = std::aligned_alloc(kHugePage, size);
    TORCH_CHECK(data != nullptr, "out of memory allocating ", size, " bytes for a kernel buffer");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(data, size, MADV_HUGEPAGE);  // advice only: without THP support this is a no-op
#endif
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static void release(void* data) { std::free(data); }
};

/// at::empty(sizes, dtype) on the CPU, from huge pages when the tensor is at least `kMinBytes` large.
inline at::Tensor empty_huge_page(at::IntArrayRef sizes, at::ScalarType dtype) {
  constexpr size_t kMinBytes = size_t(4) << 20;
  size_t numel = 1;
  for (int64_t s : sizes) numel *= size_t(s);
  if (numel * c10::elementSize(dtype) < kMinBytes) return at::empty(sizes, at::TensorOptions().dtype(dtype));
  static HugePageAllocator allocator;
  return at::detail::empty_generic(sizes, &allocator, c10::DispatchKeySet(c10::DispatchKey::CPU), dtype,
                                   c10::nullopt);
}

}  // namespace semfield::kernels::detail
