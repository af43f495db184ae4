// Nearest-neighbour label and keypoint transfer in feature space.
#include "semfield/segment/feature_transfer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"

namespace semfield {

LabelledFeatures labelled_features(const at::Tensor& unit, const at::Tensor& labels, const at::Tensor& opacity,
                                   const TransferOptions& options) {
  SEMFIELD_ASSERT(unit.dim() == 3 && labels.dim() == 2 && unit.size(1) == labels.size(0) &&
                      unit.size(2) == labels.size(1) && opacity.sizes() == labels.sizes(),
                  "unit [C,H,W], labels and opacity [H,W]");
  const int64_t c = unit.size(0);
  const at::Tensor flat_labels = labels.reshape(-1).to(at::kLong);
  const at::Tensor usable = (flat_labels > 0) & (opacity.reshape(-1) >= options.min_opacity);
  at::Tensor index = usable.nonzero().view(-1);
  const int64_t n = index.numel();
  if (n > options.max_source_pixels) {
    // Class-stratified subsample: each class keeps ceil(share * its count) pixels, at least one.
    at::Generator generator = at::detail::createCPUGenerator(options.seed);
    const at::Tensor perm = at::randperm(n, generator, at::kLong);
    const at::Tensor shuffled = index.index_select(0, perm);
    const at::Tensor shuffled_labels = flat_labels.index_select(0, shuffled);
    const double share = static_cast<double>(options.max_source_pixels) / static_cast<double>(n);
    const at::Tensor classes = std::get<0>(at::_unique(shuffled_labels));
    std::vector<at::Tensor> kept;
    for (int64_t k = 0; k < classes.numel(); ++k) {
      const at::Tensor members = shuffled.index({shuffled_labels == classes[k]});
      const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(share * members.numel())));
      kept.push_back(members.narrow(0, 0, std::min(keep, members.numel())));
    }
    index = std::get<0>(at::sort(at::cat(kept)));
  }
  LabelledFeatures out;
  out.features = unit.reshape({c, -1}).index_select(1, index).t().contiguous();
  out.labels = flat_labels.index_select(0, index).contiguous();
  return out;
}

TransferredLabels transfer_labels(const LabelledFeatures& source, const at::Tensor& targets, const at::Tensor& valid,
                                  const TransferOptions& options) {
  SEMFIELD_ASSERT(targets.dim() == 2, "targets must be [N,C]");
  const int64_t n = targets.size(0);
  TransferredLabels out;
  out.labels = at::zeros({n}, at::kLong);
  out.similarity = at::zeros({n}, at::kFloat);
  if (source.labels.numel() == 0 || n == 0) return out;
  const at::Tensor sources_t = source.features.t().contiguous();  // [C,M]
  for (int64_t begin = 0; begin < n; begin += options.chunk) {
    const int64_t len = std::min(options.chunk, n - begin);
    const auto [best, arg] = at::matmul(targets.narrow(0, begin, len).to(at::kFloat), sources_t).max(1);
    out.labels.narrow(0, begin, len).copy_(source.labels.index_select(0, arg));
    out.similarity.narrow(0, begin, len).copy_(best);
  }
  if (valid.defined()) {
    const at::Tensor v = valid.reshape(-1).to(at::kBool);
    out.labels = at::where(v, out.labels, at::zeros_like(out.labels));
    out.similarity = at::where(v, out.similarity, at::zeros_like(out.similarity));
  }
  return out;
}

TransferredKeypoints transfer_keypoints(const at::Tensor& queries, const at::Tensor& unit, const at::Tensor& opacity,
                                        double min_opacity) {
  const int64_t k = queries.size(0), c = unit.size(0), w = unit.size(2);
  TransferredKeypoints out;
  out.xy = at::full({k, 2}, -1.0f);
  out.similarity = at::full({k}, -2.0f);
  const at::Tensor opaque = opacity.reshape(-1) >= min_opacity;
  if (k == 0 || !opaque.any().item<bool>()) return out;
  const at::Tensor scores = at::matmul(queries.to(at::kFloat), unit.reshape({c, -1}));  // [K, H*W]
  // Scores of with_canonical_positions' rows fall below -1: empty pixels are ruled out, not merely scored low.
  const at::Tensor masked =
      at::where(opaque.unsqueeze(0), scores, at::full_like(scores, -std::numeric_limits<float>::infinity()));
  const auto [best, arg] = masked.max(1);
  // Integer division: `arg / w` on int64 tensors is true division in LibTorch.
  out.xy = at::stack({(arg % w).to(at::kFloat), at::div(arg, w, "floor").to(at::kFloat)}, 1);
  out.similarity = best;
  return out;
}

std::pair<at::Tensor, at::Tensor> nearest_features(const at::Tensor& queries, const at::Tensor& candidates) {
  SEMFIELD_ASSERT(candidates.size(0) > 0, "nearest_features needs candidates");
  return best_dot(queries / queries.norm(2, 1, true).clamp_min(1e-8),
                  candidates / candidates.norm(2, 1, true).clamp_min(1e-8));
}

std::pair<at::Tensor, at::Tensor> best_dot(const at::Tensor& queries, const at::Tensor& candidates) {
  SEMFIELD_ASSERT(candidates.size(0) > 0, "best_dot needs candidates");
  const auto [best, arg] = at::matmul(queries.to(at::kFloat), candidates.to(at::kFloat).t()).max(1);
  return {arg, best};
}

at::Tensor with_canonical_positions(const at::Tensor& unit, const at::Tensor& positions, double weight,
                                    PositionRole role, int64_t dim) {
  SEMFIELD_ASSERT(dim >= 0 && dim < unit.dim() && positions.dim() == unit.dim() && positions.size(dim) == 3,
                  "positions must have 3 channels along the features' channel dimension");
  for (int64_t d = 0; d < unit.dim(); ++d)
    SEMFIELD_ASSERT(d == dim || positions.size(d) == unit.size(d), "positions must match the features' other sizes");
  const at::Tensor x = positions.to(at::kFloat) * static_cast<float>(weight);
  const at::Tensor half_square = -0.5f * x.pow(2).sum(dim, true);  // -w^2 |x̂|^2 / 2
  const at::Tensor one = at::ones_like(half_square);
  return role == PositionRole::Query ? at::cat({unit.to(at::kFloat), x, half_square, one}, dim)
                                     : at::cat({unit.to(at::kFloat), x, one, half_square}, dim);
}

}  // namespace semfield
