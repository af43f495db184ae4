// splitmix64 (Steele, Lea & Flood 2014), the project's one source of deterministic random numbers: the
// synthetic generator, RANSAC hypotheses, and the counter-based draws of the occupancy grid and the ray
// marcher all use it, so a seed gives the same numbers on every platform and standard library (std::
// distributions differ between libraries).
#pragma once

#include <cstdint>

namespace semfield {

/// The Weyl increment that advances a splitmix64 state.
constexpr uint64_t kSplitMix64Gamma = 0x9E3779B97F4A7C15ULL;

/// splitmix64's output function: two multiply-xorshift rounds. Also a stateless hash (texture lattices, seed
/// derivation).
inline uint64_t splitmix64_finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// The next output of a generator whose state is `counter`: a counter-based draw, so a value depends only
/// on its key (seed, step, index) and not on the order or thread it is drawn in.
inline uint64_t splitmix64_at(uint64_t counter) { return splitmix64_finalize(counter + kSplitMix64Gamma); }

/// A sequential splitmix64 generator.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : m_state(seed) {}

  uint64_t next_u64() {
    m_state += kSplitMix64Gamma;
    return splitmix64_finalize(m_state);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n), n >= 1 (the modulo bias is below 2^-40 for n below 2^24).
  int index(int n) { return static_cast<int>(next_u64() % static_cast<uint64_t>(n)); }

 private:
  uint64_t m_state;
};

}  // namespace semfield
