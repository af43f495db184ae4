// The arithmetic a group of linear layers runs in, and a guard that sets a process-wide precision for a scope.
// Two settings use it: the foundation encoders' (foundation/transformer_ops.h, `--encoder-precision`) and the fused
// inference kernels' (kernels/layer_precision.h, `--layer-precision`).
#pragma once

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
