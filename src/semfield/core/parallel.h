// A small parallel-for over an index range for CPU work outside LibTorch ops (base library). It runs on the
// OpenMP thread team, the same threads LibTorch's own parallel ops use: a second pool (std::threads) would
// compete with OpenMP workers that spin-wait after every LibTorch op, which measured 5x slower on 2 cores.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace semfield {

/// Worker threads parallel_for may use: set_parallel_threads(n) if called (n >= 1), else the number of
/// hardware threads. Process-wide; the CLI's --threads sets it.
int parallel_threads();
/// Sets the worker count; n < 1 restores the default (all hardware threads).
void set_parallel_threads(int n);

/// Calls fn(chunk_begin, chunk_end) over [begin, end) split into chunks of `grain` indices (the last may be
/// shorter), on up to parallel_threads() threads including the caller. Chunks are handed out dynamically,
/// so uneven work balances; the order in which chunks run is unspecified, so fn must only write state
/// owned by its chunk. An exception thrown by fn stops the hand-out of further chunks and the first one
/// is rethrown on the calling thread after every worker has joined. Runs inline for a single chunk.
template <typename Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t n_chunks = (end - begin + grain - 1) / grain;
  const int64_t n_workers = std::min<int64_t>(parallel_threads(), n_chunks);
  if (n_workers <= 1) {
    for (int64_t b = begin; b < end; b += grain) fn(b, std::min(b + grain, end));
    return;
  }
  std::atomic<int64_t> next_chunk{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      const int64_t chunk = next_chunk.fetch_add(1);
      if (chunk >= n_chunks) return;
      const int64_t b = begin + chunk * grain;
      try {
        fn(b, std::min(b + grain, end));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
#pragma omp parallel num_threads(static_cast<int>(n_workers))
  work();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace semfield
