// Label and keypoint transfer by nearest neighbours in rendered feature space (FeatureNeRF section 3.4): labels
// or keypoints given on a source view go to other views, and to arbitrary 3D points, by cosine similarity of the
// field's features (or, with canonical positions weighed beside them, by the joint distance: with_canonical_positions).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield {

struct TransferOptions {
  int64_t max_source_pixels = 16384;  ///< labelled source pixels kept as neighbours (a class-stratified subsample)
  double min_opacity = 0.5;           ///< pixels below it show empty space: never sources, label 0 as targets
  int64_t chunk = 8192;               ///< targets compared at once (bounds memory: chunk x sources floats)
  uint64_t seed = 0;                  ///< subsampling seed
};

/// The labelled source pixels' unit features.
struct LabelledFeatures {
  at::Tensor features;  ///< [M,C] unit vectors
  at::Tensor labels;    ///< [M] int64, all > 0
};

/// From unit features [C,H,W] (similarity_segmenter.h unit_features), labels [H,W] int64 (0 = unlabelled) and
/// opacity [H,W]: the labelled opaque pixels. When there are more than max_source_pixels, each class keeps a share
/// proportional to its size (at least one pixel), chosen uniformly with the seed. Empty when nothing is labelled.
LabelledFeatures labelled_features(const at::Tensor& unit, const at::Tensor& labels, const at::Tensor& opacity,
                                   const TransferOptions& options = {});

struct TransferredLabels {
  at::Tensor labels;      ///< int64, the label of the most similar source feature (0 for empty targets)
  at::Tensor similarity;  ///< float, that cosine similarity (0 for empty targets)
};

/// Every target feature gets the label of its nearest source feature by cosine: targets [N,C] unit, valid [N] bool
/// (undefined = all valid). Results are [N].
TransferredLabels transfer_labels(const LabelledFeatures& source, const at::Tensor& targets, const at::Tensor& valid,
                                  const TransferOptions& options = {});

/// Keypoints: for each query feature [K,C] (unit), the target pixel (opacity >= min_opacity) of unit features
/// [C,H,W] with the highest cosine. xy [K,2] in the click convention (column, row of the pixel), similarity [K];
/// in a view without opaque pixels every keypoint gets xy (-1, -1) — the "not found" marker — and similarity -2
/// (below any cosine; with_canonical_positions' scores of found pixels may be lower still).
struct TransferredKeypoints {
  at::Tensor xy;          ///< [K,2] float
  at::Tensor similarity;  ///< [K] float
};
TransferredKeypoints transfer_keypoints(const at::Tensor& queries, const at::Tensor& unit, const at::Tensor& opacity,
                                        double min_opacity = 0.5);

/// For each query feature [K,C], the index of the most similar of candidate features [N,C] (3D keypoint transfer
/// to candidate points) and that similarity: ([K] int64, [K] float).
std::pair<at::Tensor, at::Tensor> nearest_features(const at::Tensor& queries, const at::Tensor& candidates);
/// The same by the plain dot product of the rows as given (unit features, or with_canonical_positions' rows).
std::pair<at::Tensor, at::Tensor> best_dot(const at::Tensor& queries, const at::Tensor& candidates);

/// `transfer --coordinate-weight w`: a canonical position x̂ (a source's has_canonical_positions: FeatureNeRF's
/// coordinate head) weighed beside each unit feature v̂, so that the dot product of a query row and a key row is
///   v̂_q . v̂_k - (w^2 / 2) |x̂_q - x̂_k|^2  =  1 - (|v̂_q - v̂_k|^2 + w^2 |x̂_q - x̂_k|^2) / 2,
/// the cosine at w = 0, lower the farther apart the two points are in the canonical frame: every function above
/// then picks the nearest neighbour of the joint distance. Queries get the channels [v̂, w x̂, -w^2 |x̂|^2 / 2, 1],
/// keys [v̂, w x̂, 1, -w^2 |x̂|^2 / 2] (keys: labelled sources of transfer_labels, target maps of
/// transfer_keypoints, candidates of best_dot). Channels lie along `dim` of `unit` (0 for maps [C,H,W], 1 for rows
/// [N,C]); `positions` has 3 there and the same other sizes.
enum class PositionRole { Query, Key };
at::Tensor with_canonical_positions(const at::Tensor& unit, const at::Tensor& positions, double weight,
                                    PositionRole role, int64_t dim);

}  // namespace semfield
