// A caching CPU allocator for LibTorch: large blocks are kept after free and reused, so training steps
// that allocate the same ~100 MB activations every step stop paying for fresh pages.
//
// Why: on the VMs semfield targets, first-touching a 4 KB page costs ~1.5 us; a training step allocates
// ~1 GB of fresh activations through glibc (which mmaps and unmaps blocks > 32 MB every time), so page
// faults alone cost ~250 ms per step — more than the arithmetic. Reusing blocks removes that cost; new
// blocks are backed by transparent huge pages to make their first touch ~10x cheaper.
#pragma once

#include <cstddef>

namespace semfield::kernels {

struct CachingAllocatorStats {
  size_t cached_bytes = 0;    ///< free blocks held for reuse
  size_t in_use_bytes = 0;    ///< large blocks currently owned by tensors
  size_t hits = 0, misses = 0;
};

/// Installs the caching allocator as LibTorch's CPU allocator (idempotent). Allocations below 1 MB are
/// passed to the system allocator; larger ones are served best-fit from the cache (a block at most 25 %
/// larger than requested) or freshly allocated. At most `max_cached_bytes` of free blocks are kept.
void install_caching_cpu_allocator(size_t max_cached_bytes = size_t(3) << 30);
/// Returns every cached free block to the system (e.g. after training, before rendering).
void release_cached_cpu_memory();
CachingAllocatorStats caching_allocator_stats();

}  // namespace semfield::kernels
