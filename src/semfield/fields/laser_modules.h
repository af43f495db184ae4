// Laser's modules on a distilled CLIP field (xingy038/Laser, docs/segmentation.md "Laser"), each switchable:
//  - ClipAdapter: a light residual bottleneck on the CLIP side that learns to suppress the noise of dense CLIP
//    tokens (trained by the self- and cross-consistency losses of feature_trainer.cpp);
//  - TransientQueryAttention: a learned bank of 3E queries of rank E; every feature attends to the bank, and the
//    bank's context is an attention over all features of the batch - O(N E^2), linear in N;
//  - LabelVolume: a low-rank (TensoRF vector-matrix) volume whose composited output, compared by cosine with the
//    class text embeddings, gives class logits - segmentation as classification, consistent across views.
// Differences from the released code (which has bugs, see docs): the attention's context is kept as a running
// average for inference, so a pixel's feature does not depend on which other rays share its batch; the adapter is
// a per-token map (the released one attends across the whole batch of tokens with positions by batch order); the
// label volume is trained towards the teacher's class distribution, not used as a target.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"

namespace semfield {

/// x + W2 relu(W1 x): [N,D] -> [N,D]; W2 starts at zero, so the adapter starts as the identity.
class ClipAdapter {
 public:
  ClipAdapter(int64_t dim, int64_t hidden, uint64_t seed);
  at::Tensor forward(const at::Tensor& x) const;
  std::vector<at::Tensor> parameters() const { return {m_w1, m_b1, m_w2, m_b2}; }
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  at::Tensor m_w1, m_b1, m_w2, m_b2;
};

/// Low-rank transient query attention. With q = x Wq, k = x Wk, v = x Wv ([N,E]) and the query bank P [3E,E]:
/// context C = softmax_over_N(P k^T) v  [3E,E]  (training: from the batch; inference: the running average),
/// out = (softmax_over_bank(q P^T) C + q) Wout  [N,D].  Cost O(N E^2) for the two products with the bank.
class TransientQueryAttention {
 public:
  TransientQueryAttention(int64_t dim, int64_t rank, uint64_t seed, double momentum = 0.05);
  /// Training: the context from x itself, folded into the running average (no gradient through the average).
  at::Tensor forward_train(const at::Tensor& x);
  /// Inference with the running context (the batch's own context until training has run).
  at::Tensor forward(const at::Tensor& x) const;
  int64_t rank() const { return m_rank; }
  /// Multiply-adds of one forward over n features (for the linear-cost check).
  static int64_t flops(int64_t n, int64_t dim, int64_t rank);
  std::vector<at::Tensor> parameters() const { return {m_wq, m_wk, m_wv, m_bank, m_wout}; }
  TensorMap state() const;  ///< parameters and "context"
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  at::Tensor context_of(const at::Tensor& k, const at::Tensor& v) const;
  at::Tensor apply(const at::Tensor& q, const at::Tensor& context) const;

  int64_t m_rank;
  double m_momentum;
  at::Tensor m_wq, m_wk, m_wv, m_bank, m_wout;
  at::Tensor m_context;  // [3E,E], no grad
  bool m_has_context = false;
};

/// The label volume: three planes [R,G,G] and three lines [R,G] (TensoRF's vector-matrix decomposition, rank R per
/// axis) over the unit cube; a point's 3R values (plane x line per axis) map linearly to the text space [D].
class LabelVolume {
 public:
  LabelVolume(int64_t rank, int64_t resolution, int64_t dim, uint64_t seed);
  /// Points [S,3] in the unit cube -> [S, D] (differentiable): project(values(points), 1).
  at::Tensor forward(const at::Tensor& unit_points) const;
  /// The volume's 3R values at points [S,3] in the unit cube (composite these along rays, then project: the map to
  /// the text space is linear, so that costs one [3R x D] product per ray instead of per sample).
  at::Tensor values(const at::Tensor& unit_points) const;
  /// values() at the samples of packed rays (unit_points [S,3], weights [S], ray_offsets [N+1]) composited per ray over
  /// the samples weighing more than min_weight: [N, 3R]. With gradients enabled and the volume trainable, through
  /// LibTorch (differentiable); otherwise the fused kernel (kernels/label_volume.h).
  at::Tensor composite(const at::Tensor& unit_points, const at::Tensor& weights, const at::Tensor& ray_offsets,
                       float min_weight) const;
  /// Composited values [R, 3R] with the rays' opacity [R] -> [R, D] (the bias weighted by the opacity).
  at::Tensor project(const at::Tensor& values, const at::Tensor& opacity) const;
  /// Class logits of composited volume features [R,D] against text embeddings [K,D]: scale * cosine.
  at::Tensor logits(const at::Tensor& features, const at::Tensor& texts) const;
  /// logits(project(values, opacity), texts) without the [R, D] features (inference): the projection is linear, so
  /// the dot products are values' against the [3R+1, K] projected texts and the norms come from the [3R+1]^2 Gram
  /// matrix of the basis and bias.
  at::Tensor logits_of_values(const at::Tensor& values, const at::Tensor& opacity, const at::Tensor& texts) const;
  std::vector<at::Tensor> grid_parameters() const { return {m_planes, m_lines}; }
  std::vector<at::Tensor> network_parameters() const { return {m_basis, m_bias, m_log_scale}; }
  int64_t rank() const { return m_rank; }
  int64_t resolution() const { return m_resolution; }
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  int64_t m_rank, m_resolution;
  at::Tensor m_planes;     // [3, R, G, G]: xy, xz, yz
  at::Tensor m_lines;      // [3, R, G]: z, y, x
  at::Tensor m_basis;      // [3R, D]
  at::Tensor m_bias;       // [D]
  at::Tensor m_log_scale;  // [] logit scale (log)
};

}  // namespace semfield
