// Slice-parallel evaluation with single-threaded LibTorch and BLAS inside each slice.
#include "semfield/render/parallel_slices.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__linux__)
#include <dlfcn.h>
#endif

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"

namespace semfield {

namespace {

/// OpenBLAS's thread-count controls, when OpenBLAS is the BLAS this process loaded (looked up at run time:
/// the BLAS behind LibTorch is chosen by the system, e.g. Debian's alternatives).
struct OpenBlasThreads {
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  SetFn set = nullptr;
  GetFn get = nullptr;

  static const OpenBlasThreads& instance() {
    static const OpenBlasThreads threads = [] {
      OpenBlasThreads t;
#if defined(__linux__)
      t.set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
      t.get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
      if (!t.set || !t.get) t.set = nullptr, t.get = nullptr;
#endif
      return t;
    }();
    return threads;
  }
};

/// Makes OpenBLAS single-threaded for the scope (process-wide; nested and concurrent scopes are counted).
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() {
    const OpenBlasThreads& blas = OpenBlasThreads::instance();
    if (!blas.set) return;
    std::lock_guard<std::mutex> lock(mutex());
    if (depth()++ == 0) {
      saved() = blas.get();
      blas.set(1);
    }
  }
  ~SingleThreadedBlas() {
    const OpenBlasThreads& blas = OpenBlasThreads::instance();
    if (!blas.set) return;
    std::lock_guard<std::mutex> lock(mutex());
    if (--depth() == 0) blas.set(saved());
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& depth() {
    static int d = 0;
    return d;
  }
  static int& saved() {
    static int s = 1;
    return s;
  }
};

/// Turns LibTorch's intra-op parallelism off on the calling thread (until restore). With the OpenMP backend
/// the thread count LibTorch uses is the calling thread's OpenMP setting; LibTorch initialises it lazily
/// per thread, so that is forced first and then overridden.
int torch_threads_off() {
  at::internal::lazy_init_num_threads();
  const int saved = at::get_num_threads();
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
  return saved;
}

void torch_threads_restore(int saved) {
#if defined(_OPENMP)
  omp_set_num_threads(saved);
#else
  (void)saved;
#endif
}

/// Persistent helper threads for parallel_slices. Each LibTorch-using thread re-creates LibTorch's
/// pthreadpool on its first parallel call (at::set_num_threads), whose new threads then spin for a while:
/// threads made per call cost more than the work of a small round. These live for the whole process.
class SliceWorkers {
 public:
  static SliceWorkers& instance() {
    static auto* workers = new SliceWorkers();  // never destroyed: idle threads may outlive main()
    return *workers;
  }

  /// Runs job() on the caller and n_helpers helper threads and waits for all of them. Calls from several
  /// threads are serialised.
  void run(int n_helpers, const std::function<void()>& job) {
    std::lock_guard<std::mutex> serial(m_run_mutex);
    {
      std::unique_lock<std::mutex> lock(m_mutex);
      while (static_cast<int>(m_threads.size()) < n_helpers)
        m_threads.emplace_back([this, index = static_cast<int>(m_threads.size())] { loop(index); });
      m_job = &job;
      m_active = n_helpers;
      m_pending = n_helpers;
      ++m_generation;
    }
    m_start.notify_all();
    job();
    std::unique_lock<std::mutex> lock(m_mutex);
    m_done.wait(lock, [this] { return m_pending == 0; });
    m_job = nullptr;
  }

 private:
  void loop(int index) {
    torch_threads_off();  // for good: these threads only ever run slices
    uint64_t seen = 0;
    for (;;) {
      const std::function<void()>* job;
      {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_start.wait(lock, [&] { return m_generation != seen && index < m_active; });
        seen = m_generation;
        job = m_job;
      }
      (*job)();  // exceptions are caught inside the job
      std::lock_guard<std::mutex> lock(m_mutex);
      if (--m_pending == 0) m_done.notify_one();
    }
  }

  std::mutex m_run_mutex, m_mutex;
  std::condition_variable m_start, m_done;
  std::vector<std::thread> m_threads;
  const std::function<void()>* m_job = nullptr;
  int m_active = 0, m_pending = 0;
  uint64_t m_generation = 0;
};

}  // namespace

SerialTorchScope::SerialTorchScope() : m_saved(torch_threads_off()) {}

SerialTorchScope::~SerialTorchScope() { torch_threads_restore(m_saved); }

void parallel_slices(int64_t n, int64_t slice, const std::function<void(int64_t, int64_t)>& fn) {
  SEMFIELD_ASSERT(slice >= 1, "parallel_slices: slice must be >= 1");
  if (n <= 0) return;
  const int64_t threads = parallel_threads();
  const int64_t n_slices = (n + slice - 1) / slice;
  // Inside a slice (a nested call) the helpers are busy: run serially on this thread.
  thread_local bool in_slices = false;
  if (in_slices) {
    for (int64_t s = 0; s < n_slices; ++s) fn(s * slice, std::min(slice, n - s * slice));
    return;
  }
  SingleThreadedBlas blas;
  const bool grad_mode = at::GradMode::is_enabled();  // thread-local: hand it to the helpers
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  const std::function<void()> job = [&] {
    const at::AutoGradMode grad(grad_mode);
    in_slices = true;
    for (int64_t s = next++; s < n_slices && !failed; s = next++) {
      try {
        fn(s * slice, std::min(slice, n - s * slice));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
    in_slices = false;
  };
  {
    const SerialTorchScope serial;
    const int n_helpers = static_cast<int>(std::min<int64_t>(threads, n_slices)) - 1;
    if (n_helpers > 0)
      SliceWorkers::instance().run(n_helpers, job);
    else
      job();
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace semfield
