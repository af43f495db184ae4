#include "semfield/kernels/layer_precision.h"

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace semfield::kernels {
namespace {
std::atomic<int> g_precision{static_cast<int>(LayerPrecision::Float32)};
}  // namespace

LayerPrecision fused_layer_precision() {
  return static_cast<LayerPrecision>(g_precision.load(std::memory_order_relaxed));
}

void set_fused_layer_precision(LayerPrecision precision) {
  g_precision.store(static_cast<int>(precision), std::memory_order_relaxed);
}

LayerPrecision parse_layer_precision(const char* text) {
  if (std::strcmp(text, "fp32") == 0) return LayerPrecision::Float32;
  if (std::strcmp(text, "bf16") == 0) return LayerPrecision::BFloat16;
  throw std::invalid_argument(std::string("unknown layer precision '") + text + "': expected fp32 or bf16");
}

const char* layer_precision_name(LayerPrecision precision) {
  return precision == LayerPrecision::BFloat16 ? "bf16" : "fp32";
}

bool native_bf16_layers() {
#if defined(__AVX512BF16__) && defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

}  // namespace semfield::kernels
