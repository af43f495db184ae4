// Per-operation wall-time profile of the foundation-model forward passes (SAM, CLIP, DINO): which op takes the
// time and at what rate, so a speed-up goes where the time is. Off by default; a disabled scope costs one relaxed
// atomic load. The forward passes run on one calling thread (ATen parallelises inside each op), so an op's time
// is the wall time the caller spent in it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace semfield::foundation {

struct OpProfileEntry {
  std::string name;
  int64_t calls = 0;
  double seconds = 0.0;
  double flops = 0.0;  ///< multiply-adds x 2 the op performed, where it reports them (0 otherwise)
};

class OpProfile {
 public:
  static void enable(bool on);
  static bool enabled() { return s_enabled.load(std::memory_order_relaxed); }
  static void reset();
  /// Entries in order of first appearance.
  static std::vector<OpProfileEntry> entries();
  static void add(const char* name, double seconds, double flops);

 private:
  static std::atomic<bool> s_enabled;
};

/// Times the enclosing scope under `name` (a string literal) when profiling is on.
class OpScope {
 public:
  explicit OpScope(const char* name, double flops = 0.0) : m_name(name), m_flops(flops), m_on(OpProfile::enabled()) {
    if (m_on) m_start = std::chrono::steady_clock::now();
  }
  ~OpScope() {
    if (m_on)
      OpProfile::add(m_name, std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count(),
                     m_flops);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const char* m_name;
  double m_flops;
  bool m_on;
  std::chrono::steady_clock::time_point m_start;
};

/// 2 x the multiply-adds of x [.., K] times a [N, K] weight: for OpScope.
inline double linear_flops(int64_t rows, int64_t in, int64_t out) {
  return 2.0 * static_cast<double>(rows) * static_cast<double>(in) * static_cast<double>(out);
}

}  // namespace semfield::foundation
