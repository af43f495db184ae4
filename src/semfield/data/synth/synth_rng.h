// The synthetic generator's random numbers: splitmix64, identical on every platform and standard library.
#pragma once

#include <cstdint>

namespace semfield::synth {

/// splitmix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by a Weyl constant and mixed by two
/// multiply-xorshift rounds. Chosen over std:: engines + distributions because the distributions' outputs
/// differ between standard libraries, and a seed must give the same scene everywhere.
class SynthRng {
 public:
  explicit SynthRng(uint64_t seed) : m_state(seed) {}

  uint64_t next_u64() {
    m_state += 0x9E3779B97F4A7C15ULL;
    return mix(m_state);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n), n >= 1 (the modulo bias is below 2^-40 for the small n used here).
  int index(int n) { return static_cast<int>(next_u64() % static_cast<uint64_t>(n)); }

  /// The splitmix64 output function, also used as a stateless hash (texture lattices, seed derivation).
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t m_state;
};

}  // namespace semfield::synth
