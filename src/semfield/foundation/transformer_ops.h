// Functional building blocks shared by the SAM, CLIP and DINO ports: activations, channel LayerNorm, and
// multi-head attention computed in query-row chunks with batched BLAS products.
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>

namespace semfield::foundation {

enum class Activation {
  Gelu,       ///< exact (erf) GELU, nn.GELU()
  QuickGelu,  ///< CLIP's x * sigmoid(1.702 x)
  Relu,
};
at::Tensor activate(const at::Tensor& x, Activation activation);

/// SAM's LayerNorm2d over the channels of x [B,C,H,W]: (x - mean_c) / sqrt(var_c + eps) * w[c] + b[c],
/// with the biased variance, as the reference computes it.
at::Tensor layer_norm_2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

/// Where the 1/sqrt(head_dim) factor enters. The references differ, and the order moves results by an ulp:
/// SAM's encoder multiplies q, CLIP (nn.MultiheadAttention) divides q, DINO multiplies the logits, SAM's
/// decoder divides the logits.
enum class ScaleMode { MultiplyQuery, DivideQuery, MultiplyLogits, DivideLogits };

/// Adds a bias to a chunk of logits [BH, rows, Nk] whose first query row is `row0` (SAM's relative positions).
using LogitBias = std::function<void(at::Tensor& logits, int64_t row0)>;

struct AttentionOptions {
  ScaleMode scale_mode = ScaleMode::MultiplyQuery;
  double scale = 1.0;       ///< the multiplier (Multiply*) or the divisor (Divide*)
  at::Tensor mask;          ///< optional additive [Nq, Nk] mask (CLIP's causal mask: -inf above the diagonal)
  LogitBias bias;           ///< optional per-chunk bias
  at::Tensor* probabilities = nullptr;  ///< if set, receives the softmax [BH, Nq, Nk]
};

/// softmax(q k^T * scale + mask + bias) v for q [BH, Nq, D], k [BH, Nk, D], v [BH, Nk, Dv] -> [BH, Nq, Dv].
/// Query rows are processed in chunks so the logits stay within a few tens of MB (SAM's global attention
/// over 4096 tokens would otherwise need 64 MB per head).
at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const AttentionOptions& options);

/// Self-attention with a packed [3C, C] projection whose rows are [q; k; v], heads contiguous within each
/// (timm/DINO `qkv`, SAM `qkv`, nn.MultiheadAttention `in_proj_weight`): x [B,N,C] -> [B,N,C] after `proj`.
at::Tensor multi_head_self_attention(const at::Tensor& x, const at::Tensor& qkv_weight, const at::Tensor& qkv_bias,
                                     const at::Tensor& proj_weight, const at::Tensor& proj_bias, int64_t heads,
                                     AttentionOptions options);

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
