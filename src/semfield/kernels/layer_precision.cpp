#include "semfield/kernels/layer_precision.h"

#include <atomic>

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

}  // namespace semfield::kernels
