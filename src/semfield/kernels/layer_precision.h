// The arithmetic of the fused inference kernels' linear layers (fused_layers.h: the image-conditioned model's
// aggregation, GP-NeRF's transformers, FeatureNeRF's per-point network; not their attention products, gathers,
// softmaxes or LayerNorms, nor GP-NeRF's view-attention MLP, nor a layer's last out % 16 columns, and never training).
//   fp32  (default): float products and sums; the kernels match the LibTorch reference path to float rounding.
//   bf16: each layer's inputs and weights rounded to bfloat16 (8 significant bits), products summed in float. Where
//         the CPU has AVX512-BF16 (and the build targets it: -march=native) the layers run on its dot-product
//         instruction, two products per float lane and instruction, ~2x the float multiply-adds per cycle; elsewhere
//         the same rounding is emulated (the same results to float rounding, no faster).
#pragma once

#include "semfield/core/precision.h"

namespace semfield::kernels {

/// Read when a kernel packs its weights (each call); set once by the program (`semfield --layer-precision`).
Precision fused_layer_precision();
void set_fused_layer_precision(Precision precision);

/// Whether this build runs bf16 layers on the CPU's dot-product instruction (AVX512-BF16) rather than emulating them.
bool native_bf16_layers();

/// The register-tiled layers' rate on the calling thread in float and in native bf16 (a 48 x 64 x 64 layer in
/// cache, best of a few trials; ~5 ms). Zero bf16 rate where the build has no AVX512-BF16 layers.
PrecisionRates measure_layer_rates();

/// Sets the precision for a scope (tests, benchmarks) and restores the previous one after it.
using ScopedLayerPrecision = ScopedPrecision<&fused_layer_precision, &set_fused_layer_precision>;

}  // namespace semfield::kernels
