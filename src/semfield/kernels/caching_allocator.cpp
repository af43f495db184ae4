// Caching CPU allocator for LibTorch.
#include "semfield/kernels/caching_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace semfield::kernels {

namespace {

constexpr size_t kLargeBlock = size_t(1) << 20;  // below this, glibc's heap already reuses memory
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kSmallAlignment = 64;           // what LibTorch's default CPU allocator guarantees

struct Block {
  void* data;
  size_t size;
};

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    if (nbytes < kLargeBlock) {
      void* data = nullptr;
      if (nbytes > 0 && posix_memalign(&data, kSmallAlignment, nbytes) != 0) data = nullptr;
      TORCH_CHECK(nbytes == 0 || data != nullptr, "out of memory allocating ", nbytes, " bytes");
      return {data, data, &free_small, c10::Device(c10::DeviceType::CPU)};
    }
    Block* block = take(nbytes);
    return {block->data, block, &free_large, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }  // contexts differ from data

  static CachingCpuAllocator& instance() {
    static auto* allocator = new CachingCpuAllocator();  // never destroyed: tensors may outlive main()
    return *allocator;
  }
  void set_limit(size_t bytes) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_limit = bytes;
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (auto& [size, data] : m_free) std::free(data);
    m_free.clear();
    m_stats.cached_bytes = 0;
  }
  CachingAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_stats;
  }

 private:
  Block* take(size_t nbytes) const {
    const size_t size = (nbytes + kHugePage - 1) / kHugePage * kHugePage;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      auto it = m_free.lower_bound(size);
      if (it != m_free.end() && it->first <= size + size / 4) {
        Block* block = new Block{it->second, it->first};
        m_free.erase(it);
        m_stats.cached_bytes -= block->size;
        m_stats.in_use_bytes += block->size;
        ++m_stats.hits;
        return block;
      }
      ++m_stats.misses;
      m_stats.in_use_bytes += size;
    }
    void* data = std::aligned_alloc(kHugePage, size);
    TORCH_CHECK(data != nullptr, "out of memory allocating ", size, " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(data, size, MADV_HUGEPAGE);  // advice only; a no-op without transparent huge pages
#endif
    return new Block{data, size};
  }

  void give_back(Block* block) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stats.in_use_bytes -= block->size;
    m_free.emplace(block->size, block->data);
    m_stats.cached_bytes += block->size;
    // Over the limit: drop the largest free blocks first (they are the rarest to be reused exactly).
    while (m_stats.cached_bytes > m_limit && !m_free.empty()) {
      auto last = std::prev(m_free.end());
      std::free(last->second);
      m_stats.cached_bytes -= last->first;
      m_free.erase(last);
    }
    delete block;
  }

  static void free_small(void* data) { std::free(data); }
  static void free_large(void* context) { instance().give_back(static_cast<Block*>(context)); }

  mutable std::mutex m_mutex;
  mutable std::multimap<size_t, void*> m_free;
  mutable CachingAllocatorStats m_stats;
  size_t m_limit = size_t(3) << 30;
};

}  // namespace

void install_caching_cpu_allocator(size_t max_cached_bytes) {
  static std::once_flag once;
  CachingCpuAllocator::instance().set_limit(max_cached_bytes);
  // Priority above LibTorch's default (0) so later default registrations cannot replace it.
  std::call_once(once, [] { c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/10); });
}

void release_cached_cpu_memory() { CachingCpuAllocator::instance().release_all(); }

CachingAllocatorStats caching_allocator_stats() { return CachingCpuAllocator::instance().stats(); }

}  // namespace semfield::kernels
