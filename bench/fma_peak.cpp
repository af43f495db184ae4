// The machine's float multiply-add peak, measured: independent FMA chains in registers on 1 and N threads (the widest
// vectors this build has: AVX-512, else AVX2 + FMA). The arithmetic limit the BENCHMARKS.md speed targets are set
// against ("GP-NeRF", "Generalizable models": multiply-adds per view / this rate) — a VM's vCPUs may run at half
// width (Zen 4 splits a 512-bit FMA in two) or share a physical core, which a CPU's nominal figures do not show.
//   fma_peak [THREADS] [SECONDS]     (defaults: 2 threads, 1 s per measurement)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

// GCC 12 reports its own _mm512_reduce_add_ps's _mm512_undefined_*() seed as used uninitialized once inlined (a false
// positive in the system header; see src/semfield/kernels/simd_ops.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using Vec = __m512;
inline Vec vset(float x) { return _mm512_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(Vec a) { return _mm512_reduce_add_ps(a); }
constexpr const char* kIsa = "AVX-512 (zmm)";
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
using Vec = __m256;
inline Vec vset(float x) { return _mm256_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(Vec a) {
  alignas(32) float f[8];
  _mm256_store_ps(f, a);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
constexpr const char* kIsa = "AVX2 + FMA (ymm)";
#else
constexpr int kLanes = 1;
using Vec = float;
inline Vec vset(float x) { return x; }
inline Vec vfma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float vsum(Vec a) { return a; }
constexpr const char* kIsa = "scalar";
#endif

// Independent accumulators: more than latency x pipes on current cores, and within the register file with the two
// constants (16 ymm registers with AVX2: more chains would spill one to the stack and slow it).
constexpr int kChains = kLanes == 8 ? 12 : 16;
constexpr int64_t kInner = 1 << 16;  // FMA rounds between clock reads

// Multiply-adds (lanes) per second of one thread running for `seconds`; `sink` keeps the result alive.
double one_thread(double seconds, std::atomic<float>& sink) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset(0.001f * static_cast<float>(c));
  const Vec a = vset(0.999999f), b = vset(1e-7f);
  int64_t rounds = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    for (int64_t i = 0; i < kInner; ++i)
      for (int c = 0; c < kChains; ++c) acc[c] = vfma(acc[c], a, b);
    rounds += kInner;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  float s = 0;
  for (int c = 0; c < kChains; ++c) s += vsum(acc[c]);
  sink.store(sink.load() + s);
  return static_cast<double>(rounds) * kChains * kLanes / elapsed;
}

double measure(int threads, double seconds) {
  std::atomic<float> sink{0};  // racy read-modify-write: only keeps the results alive
  std::atomic<int> ready{0};
  std::vector<double> rate(static_cast<size_t>(threads), 0.0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {  // start together, so the runs overlap
      }
      rate[static_cast<size_t>(t)] = one_thread(seconds, sink);
    });
  for (std::thread& th : pool) th.join();
  double total = 0;
  for (double r : rate) total += r;
  if (sink.load() == 12345.0f) std::printf(" ");  // never true in practice; keeps the loops from being removed
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (threads < 1 || !(seconds > 0)) {
    std::fprintf(stderr, "usage: %s [THREADS >= 1] [SECONDS > 0]\n", argv[0]);
    return 2;
  }
  std::printf("float multiply-adds, %s, %d independent chains per thread\n", kIsa, kChains);
  measure(1, 0.2 * seconds);  // warm-up: clocks and the vector unit's power state
  for (int n = 1; n <= threads; n = n == threads ? threads + 1 : std::min(2 * n, threads)) {
    const double r = measure(n, seconds);
    std::printf("%2d thread%s: %7.1f G multiply-adds/s (%.1f per thread)\n", n, n == 1 ? " " : "s", r * 1e-9,
                r * 1e-9 / n);
  }
  return 0;
}
