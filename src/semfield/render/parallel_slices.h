// Runs a tensor function over independent slices of a batch on several threads, each slice single-threaded
// inside (no LibTorch intra-op or BLAS threads), for inference on many small, independent batches.
#pragma once

#include <cstdint>
#include <functional>

namespace semfield {

/// Calls fn(begin, length) for the consecutive slices of [0, n) of `slice` rows (the last may be shorter).
/// Slices are handed out dynamically to up to parallel_threads() threads (the caller and persistent helper
/// threads); inside fn, LibTorch's intra-op parallelism (OpenMP) is off on that thread and OpenBLAS, if it
/// is the BLAS, runs single-threaded (process-wide, restored on return). The slices do not depend on the
/// thread count, so neither does a result built from them (a BLAS call's rounding can depend on its batch
/// size).
///
/// Why: a whole-batch op parallelised inside LibTorch synchronises its threads at every op (a dozen per
/// field evaluation), and on a busy machine a descheduled thread makes the others spin at those barriers
/// (GNU OpenMP's default wait policy): rendering measured 3-5x slower that way than with independent
/// slices. Helper threads are kept because each new thread that calls LibTorch rebuilds its thread pool.
/// Slices of a fixed size also make the field's allocations repeat, so allocators recycle them instead of
/// faulting in fresh pages.
///
/// fn runs on other threads too: of the calling thread's LibTorch state only grad mode is carried over. fn
/// must only write state owned by its slice. A call from inside fn runs its slices serially on that
/// thread; calls from several threads at once are served one after the other. The first exception thrown
/// by fn is rethrown after every thread has finished. n <= 0 calls nothing; slice must be >= 1.
void parallel_slices(int64_t n, int64_t slice, const std::function<void(int64_t, int64_t)>& fn);

/// For its lifetime, LibTorch ops called on the constructing thread run single-threaded (its OpenMP thread
/// count is 1); restored on destruction. Put it around code that parallelises itself with
/// parallel_slices: GNU OpenMP's idle team threads spin for milliseconds after every parallel op, taking a
/// core from the slices on a small machine. Not movable; destroy on the constructing thread.
class SerialTorchScope {
 public:
  SerialTorchScope();
  ~SerialTorchScope();
  SerialTorchScope(const SerialTorchScope&) = delete;
  SerialTorchScope& operator=(const SerialTorchScope&) = delete;

 private:
  int m_saved;
};

}  // namespace semfield
