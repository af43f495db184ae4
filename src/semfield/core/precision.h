// The arithmetic a group of linear layers runs in, and a guard that sets a process-wide precision for a scope.
// Two settings use it: the foundation encoders' (foundation/transformer_ops.h, `--encoder-precision`) and the fused
// inference kernels' (kernels/layer_precision.h, `--layer-precision`).
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

namespace semfield {

/// Float32: float products and sums (the default and the golden-checked path). BFloat16: inputs and weights rounded to
/// bfloat16, products summed in float.
enum class Precision { Float32, BFloat16 };

Precision parse_precision(const std::string& text);  ///< "fp32" | "float32" | "bf16" | "bfloat16"; UsageError
const char* precision_name(Precision precision);      ///< "fp32" | "bf16"

/// Multiply-add rates of the same layers measured in both precisions on this machine (G multiply-adds/s).
struct PrecisionRates {
  double fp32 = 0.0, bf16 = 0.0;
};

/// Whether bf16 is measurably slower than fp32 (by more than 5 %): some CPUs with AVX512-BF16 run its dot product at
/// a lower rate than their float FMAs (BENCHMARKS.md: the Intel Emerald Rapids VMs), so asking for bf16 there costs
/// both speed and precision.
inline bool bf16_is_slower(const PrecisionRates& rates) { return rates.bf16 < 0.95 * rates.fp32; }

/// Times `fp32` and `bf16` (each one unit of the same work, `macs` multiply-adds) after a warm-up call of each,
/// alternating them `trials` times and keeping each one's best rate (G multiply-adds/s): a VM's speed drifts, and
/// alternating keeps one phase from favouring either precision.
template <typename Fp32, typename Bf16>
PrecisionRates measure_precision_rates(double macs, int trials, Fp32&& fp32, Bf16&& bf16) {
  auto rate = [macs](auto&& call) {
    const auto start = std::chrono::steady_clock::now();
    call();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s > 0.0 ? macs / s / 1e9 : 0.0;
  };
  fp32();  // warm the caches (and oneDNN's first-call set-up)
  bf16();
  PrecisionRates rates;
  for (int t = 0; t < trials; ++t) {
    rates.fp32 = std::max(rates.fp32, rate(fp32));
    rates.bf16 = std::max(rates.bf16, rate(bf16));
  }
  return rates;
}

/// Sets a process-wide precision (read by Get, written by Set) for a scope and restores the previous one after it.
template <Precision (*Get)(), void (*Set)(Precision)>
class ScopedPrecision {
 public:
  explicit ScopedPrecision(Precision precision) : m_saved(Get()) { Set(precision); }
  ~ScopedPrecision() { Set(m_saved); }
  ScopedPrecision(const ScopedPrecision&) = delete;
  ScopedPrecision& operator=(const ScopedPrecision&) = delete;

 private:
  Precision m_saved;
};

}  // namespace semfield
