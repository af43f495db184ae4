// Functional building blocks shared by the SAM, CLIP and DINO ports: activations, channel LayerNorm, and
// multi-head attention computed in query-row chunks with batched BLAS products.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "semfield/core/precision.h"

namespace semfield::foundation {

enum class Activation {
  Gelu,       ///< exact (erf) GELU, nn.GELU()
  QuickGelu,  ///< CLIP's x * sigmoid(1.702 x)
  Relu,
};
at::Tensor activate(const at::Tensor& x, Activation activation);
/// In place (the MLP's hidden layer is a block's largest tensor).
at::Tensor activate_(at::Tensor& x, Activation activation);

/// SAM's LayerNorm2d over the channels of x [B,C,H,W]: (x - mean_c) / sqrt(var_c + eps) * w[c] + b[c],
/// with the biased variance, as the reference computes it.
at::Tensor layer_norm_2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

/// Where the 1/sqrt(head_dim) factor enters. The references differ, and the order moves results by an ulp:
/// SAM's encoder multiplies q, CLIP (nn.MultiheadAttention) divides q, DINO multiplies the logits, SAM's
/// decoder divides the logits.
enum class ScaleMode { MultiplyQuery, DivideQuery, MultiplyLogits, DivideLogits };

struct AttentionOptions {
  ScaleMode scale_mode = ScaleMode::MultiplyQuery;
  double scale = 1.0;       ///< the multiplier (Multiply*) or the divisor (Divide*)
  at::Tensor mask;          ///< optional additive [Nq, Nk] mask (CLIP's causal mask: -inf above the diagonal)
  /// Optional decomposed relative-position terms (SAM): rel_h [BH, Nq, H] and rel_w [BH, Nq, W] with H * W = Nk;
  /// the logit of query i and key (kh, kw) gains rel_h[., i, kh] + rel_w[., i, kw].
  at::Tensor rel_h, rel_w;
  at::Tensor* probabilities = nullptr;  ///< if set, receives the softmax [BH, Nq, Nk]
};

/// softmax(q k^T * scale + mask + rel) v for q [BH, Nq, D], k [BH, Nk, D], v [BH, Nk, Dv] -> [BH, Nq, Dv].
/// Query rows are processed in chunks so the logits stay within a bounded buffer (SAM's global attention over
/// 4096 tokens would otherwise need 64 MB per head). The products run as batched GEMMs into buffers allocated once
/// per call, and scale, mask, relative terms and the softmax are one fused pass (kernels/attention_softmax.h);
/// `SEMFIELD_FUSED_ATTENTION=0` selects the LibTorch-op reference below instead.
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& options);
/// The same with one LibTorch op per step (the reference the fused path is tested against).
at::Tensor scaled_dot_product_attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const AttentionOptions& options);

/// Arithmetic of the foundation models' linear layers. BFloat16 rounds activations and weights to bf16 and
/// multiplies them with oneDNN's bf16 GEMM (AVX512-BF16: ~4x the float32 rate on the development VM), accumulating
/// in float32; LayerNorms, softmax, residuals and the attention products stay float32. Opt-in: float32 is the
/// default and the golden-checked path; docs/foundation_models.md states bf16's measured error. (The enum, its
/// parsing and the scope guard are core/precision.h's, shared with the fused kernels' layer precision.)
using semfield::parse_precision;
using semfield::Precision;
using semfield::precision_name;
/// Whether this CPU has native bf16 dot products (AVX512_BF16). Elsewhere bf16 still works but is emulated and slow.
bool cpu_has_bf16();
/// at::linear's rate in float32 and in bf16 with LibTorch's threads ([512, 768] x [768, 768]^T, alternately, best of 5
/// after a warm-up; ~50 ms): what the encoders' linear layers get in either precision on this machine.
PrecisionRates measure_linear_rates();
/// The precision foundation-model forward passes use (process-wide; Float32 unless set).
Precision foundation_precision();
void set_foundation_precision(Precision precision);
/// Sets the precision for a scope and restores the previous one.
using ScopedFoundationPrecision = ScopedPrecision<&foundation_precision, &set_foundation_precision>;

/// at::linear in the current precision: float32 in and out. In BFloat16 the weight's bf16 copy is made once and
/// cached (keyed by the weight tensor and its version, dropped when the weight is freed).
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// fc2(act(fc1(x))) in the current precision (in bf16 the hidden layer stays bf16); float32 out.
at::Tensor mlp(const at::Tensor& x, const at::Tensor& fc1_weight, const at::Tensor& fc1_bias,
               const at::Tensor& fc2_weight, const at::Tensor& fc2_bias, Activation activation);

/// Terms that depend on the queries (SAM's decomposed relative positions): called with the heads' unscaled queries
/// [B*heads, N, head_dim] before the attention, it may set `options`' additive terms.
using QueryTerms = std::function<void(const at::Tensor& q, AttentionOptions& options)>;

/// Self-attention with a packed [3C, C] projection whose rows are [q; k; v], heads contiguous within each
/// (timm/DINO `qkv`, SAM `qkv`, nn.MultiheadAttention `in_proj_weight`): x [B,N,C] -> [B,N,C] after `proj`.
at::Tensor multi_head_self_attention(const at::Tensor& x, const at::Tensor& qkv_weight, const at::Tensor& qkv_bias,
                                     const at::Tensor& proj_weight, const at::Tensor& proj_bias, int64_t heads,
                                     AttentionOptions options, const QueryTerms& query_terms = {});

/// A pre-norm ViT block, as DINO and CLIP share it: x + attn(ln1(x)), then + fc2(act(fc1(ln2(x)))).
struct PreNormBlockWeights {
  at::Tensor norm1_weight, norm1_bias, qkv_weight, qkv_bias, proj_weight, proj_bias;
  at::Tensor norm2_weight, norm2_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};
struct PreNormBlockOptions {
  int64_t heads = 1;
  double eps = 1e-6;
  Activation activation = Activation::Gelu;
  AttentionOptions attention;
};
at::Tensor pre_norm_block(const at::Tensor& x, const PreNormBlockWeights& w, const PreNormBlockOptions& options);

}  // namespace semfield::foundation
