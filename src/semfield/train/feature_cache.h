// SAN's FIFO cache of augmented views (section 4.3): running the teacher on a freshly rendered view is the
// expensive part of camera augmentation, so most augmented steps reuse a cached (camera, teacher maps) pair.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"

namespace semfield {

/// A rendered novel view and what the teacher saw in it.
struct AugmentedView {
  Camera camera;                  ///< at the rendered image's resolution
  std::vector<at::Tensor> maps;   ///< teacher maps, one per scale
};

class FeatureCache {
 public:
  /// capacity >= 1 entries; reuse in [0, 1): probability that a step reuses a cached entry once the cache
  /// holds one (SAN: 256 and 0.75).
  FeatureCache(int capacity, double reuse, uint64_t seed);

  /// Draws whether the next augmented step reuses a cached entry (always false while empty).
  bool should_reuse();
  /// A uniformly chosen cached entry (the cache must not be empty); counts a reuse.
  const AugmentedView& sample();
  /// Appends a fresh entry, evicting the oldest when full (first in, first out); counts a fresh view.
  void push(AugmentedView view);

  size_t size() const { return m_entries.size(); }
  int capacity() const { return m_capacity; }
  const std::deque<AugmentedView>& entries() const { return m_entries; }
  int64_t reused() const { return m_reused; }
  int64_t fresh() const { return m_fresh; }

 private:
  int m_capacity;
  double m_reuse;
  std::mt19937_64 m_rng;
  std::deque<AugmentedView> m_entries;
  int64_t m_reused = 0, m_fresh = 0;
};

}  // namespace semfield
