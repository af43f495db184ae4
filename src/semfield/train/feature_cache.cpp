// SAN's FIFO feature cache.
#include "semfield/train/feature_cache.h"

#include "semfield/core/error.h"

namespace semfield {

FeatureCache::FeatureCache(int capacity, double reuse, uint64_t seed)
    : m_capacity(capacity), m_reuse(reuse), m_rng(seed) {
  if (capacity < 1) fail_usage("feature cache capacity must be >= 1, got {}", capacity);
  if (!(reuse >= 0 && reuse < 1)) fail_usage("feature cache reuse probability must be in [0, 1), got {}", reuse);
}

bool FeatureCache::should_reuse() {
  if (m_entries.empty()) return false;
  return std::uniform_real_distribution<double>(0.0, 1.0)(m_rng) < m_reuse;
}

const AugmentedView& FeatureCache::sample() {
  SEMFIELD_ASSERT(!m_entries.empty(), "sample() on an empty feature cache");
  ++m_reused;
  return m_entries[std::uniform_int_distribution<size_t>(0, m_entries.size() - 1)(m_rng)];
}

void FeatureCache::push(AugmentedView view) {
  ++m_fresh;
  if (static_cast<int>(m_entries.size()) == m_capacity) m_entries.pop_front();
  m_entries.push_back(std::move(view));
}

}  // namespace semfield
