// The process-wide worker count of parallel_for.
#include "semfield/core/parallel.h"

namespace semfield {

namespace {
std::atomic<int> g_threads{0};  // 0 = use the hardware thread count
}

int parallel_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  if (n >= 1) return n;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void set_parallel_threads(int n) { g_threads.store(n >= 1 ? n : 0, std::memory_order_relaxed); }

}  // namespace semfield
