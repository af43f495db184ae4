// Source-view selection by camera pose.
#include "semfield/data/source_views.h"

#include <algorithm>
#include <numeric>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"

namespace semfield {

std::vector<double> source_view_distances(const Camera& target, const std::vector<Camera>& candidates,
                                          double direction_weight) {
  return source_view_distances(target.origin(), target.forward(), candidates, direction_weight);
}

std::vector<double> source_view_distances(const Eigen::Vector3d& position, const Eigen::Vector3d& forward,
                                          const std::vector<Camera>& candidates, double direction_weight) {
  const Eigen::Vector3d p = position, f = forward.normalized();
  const double radius = std::max(p.norm(), 1e-6);
  std::vector<double> out;
  out.reserve(candidates.size());
  for (const Camera& c : candidates)
    out.push_back((c.origin() - p).norm() / radius + direction_weight * (1.0 - c.forward().normalized().dot(f)));
  return out;
}

namespace {

std::vector<int> ranked(const Eigen::Vector3d& position, const Eigen::Vector3d& forward,
                        const std::vector<Camera>& candidates, double direction_weight, std::optional<int> exclude) {
  const std::vector<double> d = source_view_distances(position, forward, candidates, direction_weight);
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(candidates.size()); ++i)
    if (!exclude || i != *exclude) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return d[static_cast<size_t>(a)] < d[static_cast<size_t>(b)]; });
  return order;
}

}  // namespace

std::vector<int> nearest_source_views(const Camera& target, const std::vector<Camera>& candidates,
                                      const SourceViewOptions& options, std::optional<int> exclude) {
  return nearest_source_views(target.origin(), target.forward(), candidates, options, exclude);
}

std::vector<int> nearest_source_views(const Eigen::Vector3d& position, const Eigen::Vector3d& forward,
                                      const std::vector<Camera>& candidates, const SourceViewOptions& options,
                                      std::optional<int> exclude) {
  if (options.count < 1) fail_usage("source views: expected a count of at least 1, got {}", options.count);
  std::vector<int> order = ranked(position, forward, candidates, options.direction_weight, exclude);
  if (order.size() > static_cast<size_t>(options.count)) order.resize(static_cast<size_t>(options.count));
  return order;
}

std::vector<int> sample_source_views(const Camera& target, const std::vector<Camera>& candidates,
                                     const SourceViewOptions& options, int pool, uint64_t seed,
                                     std::optional<int> exclude) {
  if (options.count < 1) fail_usage("source views: expected a count of at least 1, got {}", options.count);
  if (pool < options.count) fail_usage("source views: the pool ({}) must hold at least the count ({})", pool, options.count);
  std::vector<int> order = ranked(target.origin(), target.forward(), candidates, options.direction_weight, exclude);
  if (order.size() > static_cast<size_t>(pool)) order.resize(static_cast<size_t>(pool));
  // Partial Fisher-Yates with splitmix64: platform-independent (std::shuffle's distributions are not).
  std::vector<int> positions(order.size());
  std::iota(positions.begin(), positions.end(), 0);
  const size_t take = std::min(order.size(), static_cast<size_t>(options.count));
  SplitMix64 rng(seed);
  for (size_t i = 0; i < take; ++i) {
    const size_t j = i + static_cast<size_t>(rng.index(static_cast<int>(positions.size() - i)));
    std::swap(positions[i], positions[j]);
  }
  positions.resize(take);
  std::sort(positions.begin(), positions.end());  // nearest first
  std::vector<int> out;
  for (int p : positions) out.push_back(order[static_cast<size_t>(p)]);
  return out;
}

}  // namespace semfield
