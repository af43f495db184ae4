// Source-view selection for image-conditioned (generalizable) models: which of a scene's posed images a target
// view is rendered from. IBRNet and GNeSF pick the views nearest the target by camera pose; during training they
// draw a random subset of a larger pool of nearest views, so the model sees varied baselines and never relies on
// one particular neighbour.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "semfield/geometry/camera.h"

namespace semfield {

struct SourceViewOptions {
  int count = 8;  ///< source views per target (fewer when fewer candidates exist)
  /// How much a difference in viewing direction weighs against one in position: the distance of candidate s
  /// to target t is |p_s - p_t| / r + direction_weight * (1 - cos angle(forward_s, forward_t)), where r is the
  /// target camera's distance to the scene centre (the origin of the normalised frame), so the measure does not
  /// depend on the scene's scale.
  double direction_weight = 1.0;
};

/// Pose distance of every candidate camera to the target (the measure of SourceViewOptions::direction_weight).
std::vector<double> source_view_distances(const Camera& target, const std::vector<Camera>& candidates,
                                          double direction_weight = 1.0);

/// The same measure for a viewpoint that is not a camera (a batch of rays: their mean origin and direction).
std::vector<double> source_view_distances(const Eigen::Vector3d& position, const Eigen::Vector3d& forward,
                                          const std::vector<Camera>& candidates, double direction_weight = 1.0);

/// The `options.count` candidates nearest the target, nearest first (ties: lower index first). `exclude` (the
/// target's own index among the candidates, when it is one of them) is never chosen.
std::vector<int> nearest_source_views(const Camera& target, const std::vector<Camera>& candidates,
                                      const SourceViewOptions& options, std::optional<int> exclude = std::nullopt);

/// The same for a viewpoint given by position and forward direction (normalised frame).
std::vector<int> nearest_source_views(const Eigen::Vector3d& position, const Eigen::Vector3d& forward,
                                      const std::vector<Camera>& candidates, const SourceViewOptions& options,
                                      std::optional<int> exclude = std::nullopt);

/// Training: `options.count` views drawn without replacement from the `pool` nearest (pool >= count; the target
/// excluded), returned nearest first; the same seed gives the same draw on every platform.
std::vector<int> sample_source_views(const Camera& target, const std::vector<Camera>& candidates,
                                     const SourceViewOptions& options, int pool, uint64_t seed,
                                     std::optional<int> exclude = std::nullopt);

}  // namespace semfield
