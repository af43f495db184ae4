// Caching CPU allocator for LibTorch.
#include "semfield/kernels/caching_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include "semfield/kernels/torch_compat.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace semfield::kernels {

namespace {

constexpr size_t kLargeBlock = size_t(1) << 20;  // below this, glibc's heap already reuses memory
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kSmallAlignment = 64;           // what LibTorch's default CPU allocator guarantees

class CachingCpuAllocator final : public detail::PortableCpuAllocator {
 public:
  c10::DataPtr allocate_bytes(size_t nbytes) const override {
    if (nbytes < kLargeBlock) {
      void* data = nullptr;
      if (nbytes > 0 && posix_memalign(&data, kSmallAlignment, nbytes) != 0) data = nullptr;
      TORCH_CHECK(nbytes == 0 || data != nullptr, "out of memory allocating ", nbytes, " bytes");
      return {data, data, &free_any, c10::Device(c10::DeviceType::CPU)};
    }
    void* data = take(nbytes);
    return {data, data, &free_any, c10::Device(c10::DeviceType::CPU)};
  }
  // Context == data for every block, so raw allocations (oneDNN's scratch buffers use them) work too.
  c10::DeleterFnPtr raw_deleter() const override { return &free_any; }

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
  void* take(size_t nbytes) const {
    const size_t size = (nbytes + kHugePage - 1) / kHugePage * kHugePage;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      auto it = m_free.lower_bound(size);
      if (it != m_free.end() && it->first <= size + size / 4) {
        void* data = it->second;
        m_live.emplace(data, it->first);
        m_stats.cached_bytes -= it->first;
        m_stats.in_use_bytes += it->first;
        m_free.erase(it);
        ++m_stats.hits;
        return data;
      }
      ++m_stats.misses;
      m_stats.in_use_bytes += size;
    }
    void* data = std::aligned_alloc(kHugePage, size);
    TORCH_CHECK(data != nullptr, "out of memory allocating ", size, " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(data, size, MADV_HUGEPAGE);  // advice only; a no-op without transparent huge pages
#endif
    std::lock_guard<std::mutex> lock(m_mutex);
    m_live.emplace(data, size);
    return data;
  }

  // Returns a large block to the cache; false if `data` is not one (a small block).
  bool give_back(void* data) {
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto live = m_live.find(data);
    if (live == m_live.end()) return false;
    const size_t size = live->second;
    m_live.erase(live);
    m_stats.in_use_bytes -= size;
    m_free.emplace(size, data);
    m_stats.cached_bytes += size;
    // Over the limit: drop the largest free blocks first (they are the rarest to be reused exactly).
    while (m_stats.cached_bytes > m_limit && !m_free.empty()) {
      auto last = std::prev(m_free.end());
      std::free(last->second);
      m_stats.cached_bytes -= last->first;
      m_free.erase(last);
    }
    return true;
  }

  static void free_any(void* data) {
    // Large blocks are 2 MiB aligned; anything else is a small block and skips the lock.
    if (data == nullptr) return;
    if (reinterpret_cast<uintptr_t>(data) % kHugePage != 0 || !instance().give_back(data)) std::free(data);
  }

  mutable std::mutex m_mutex;
  mutable std::multimap<size_t, void*> m_free;
  mutable std::unordered_map<void*, size_t> m_live;  // large blocks in use -> their size
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
