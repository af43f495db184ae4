// Scores of FeatureNeRF's tasks (../shared/papers/featurenerf-*.txt §4): keypoint transfer (PCK: the fraction of
// transferred keypoints within a distance of the truth, in pixels for 2D, in the object's normalised units for 3D) and
// part co-segmentation (per pair, the IoU of each part both shapes have, averaged; then averaged over pairs).
// Nearest neighbours by cosine of L2-normalised features, as the paper's protocol.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

/// Running PCK over keypoint pairs: add() each transferred keypoint's distance to its truth (a keypoint that could not
/// be transferred counts as a miss: distance infinity).
class PckAccumulator {
 public:
  explicit PckAccumulator(std::vector<double> thresholds) : m_thresholds(std::move(thresholds)), m_hits(m_thresholds.size(), 0) {}
  void add(double distance);
  int64_t count() const { return m_count; }
  /// Fraction within each threshold (0 when nothing was added).
  std::vector<double> values() const;
  const std::vector<double>& thresholds() const { return m_thresholds; }

 private:
  std::vector<double> m_thresholds;
  std::vector<int64_t> m_hits;
  int64_t m_count = 0;
};

/// One pair's part co-segmentation score: over the elements where truth > 0 (the target's foreground), the mean IoU
/// of predicted == p against truth == p for every part p > 0 in both `source_parts` and the target's truth. -1 when
/// they share no part.
double pair_part_miou(const at::Tensor& predicted, const at::Tensor& truth, const std::vector<int64_t>& source_parts);

/// The part ids > 0 present in a label tensor, sorted.
std::vector<int64_t> present_parts(const at::Tensor& labels);

/// Cosine nearest neighbours: for each query row [Q,C], the index of the most similar key row [K,C] (rows
/// L2-normalised first) -> [Q] int64, and the similarities [Q].
std::pair<at::Tensor, at::Tensor> cosine_nearest(const at::Tensor& queries, const at::Tensor& keys);

/// Euclidean nearest neighbours: for each query row [Q,C], the index of the closest key row [K,C] -> [Q] int64, and
/// the distances [Q].
std::pair<at::Tensor, at::Tensor> euclidean_nearest(const at::Tensor& queries, const at::Tensor& keys);

}  // namespace semfield
