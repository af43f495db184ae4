#include "semfield/kernels/layer_precision.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "semfield/kernels/small_gemm.h"

namespace semfield::kernels {
namespace {
std::atomic<int> g_precision{static_cast<int>(Precision::Float32)};
}  // namespace

Precision fused_layer_precision() { return static_cast<Precision>(g_precision.load(std::memory_order_relaxed)); }

void set_fused_layer_precision(Precision precision) {
  g_precision.store(static_cast<int>(precision), std::memory_order_relaxed);
}

bool native_bf16_layers() {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

PrecisionRates measure_layer_rates() {
  // The sizes read at run time, as the kernels' are: with them constant GCC specialised the GEMM's remainder loops
  // and warned about iterations that cannot happen (-Waggressive-loop-optimizations).
  static volatile int64_t sizes[3] = {48, 64, 64};
  const int64_t M = sizes[0], K = sizes[1], N = sizes[2];
  constexpr int kCalls = 200, kTrials = 5;
  std::vector<float> a(static_cast<size_t>(M * K), 0.5f), b(static_cast<size_t>(K * N), 0.01f),
      c(static_cast<size_t>(M * N)), bias(static_cast<size_t>(N), 0.1f);
  const double macs = static_cast<double>(M * K * N) * kCalls;
  auto fp32 = [&] {
    for (int i = 0; i < kCalls; ++i)
      detail::gemm(a.data(), K, 1, M, K, b.data(), N, N, c.data(), N, false, true, bias.data());
  };
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  const int64_t pairs = K / 2;
  std::vector<uint32_t> a2(static_cast<size_t>(M * pairs));
  std::vector<uint16_t> b2(static_cast<size_t>(pairs * N * 2), 0x3c23);  // bf16 0.00995
  auto bf16 = [&] {
    for (int i = 0; i < kCalls; ++i) {  // with the inputs' conversion, as apply_layer pays it
      detail::to_bf16_pairs(a.data(), K, M, K, a2.data(), pairs);
      detail::gemm_bf16(a2.data(), pairs, M, pairs, b2.data(), N, N, c.data(), N, true, bias.data());
    }
  };
  return measure_precision_rates(macs, kTrials, fp32, bf16);
#else
  PrecisionRates rates = measure_precision_rates(macs, kTrials, fp32, [] {});
  rates.bf16 = 0.0;  // no native bf16 layers in this build
  return rates;
#endif
}

}  // namespace semfield::kernels
