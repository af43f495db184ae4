// The viewer's frame cache.
#include "semfield/serve/render_cache.h"

namespace semfield {

std::optional<CachedFrame> RenderCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(m_mutex);
  const auto it = m_index.find(key);
  if (it == m_index.end()) return std::nullopt;
  m_order.splice(m_order.begin(), m_order, it->second);
  return it->second->second;
}

void RenderCache::put(const std::string& key, CachedFrame frame) {
  if (m_capacity == 0) return;
  std::lock_guard<std::mutex> lock(m_mutex);
  const auto it = m_index.find(key);
  if (it != m_index.end()) {
    it->second->second = std::move(frame);
    m_order.splice(m_order.begin(), m_order, it->second);
    return;
  }
  while (m_order.size() >= m_capacity) {
    m_index.erase(m_order.back().first);
    m_order.pop_back();
  }
  m_order.emplace_front(key, std::move(frame));
  m_index[key] = m_order.begin();
}

size_t RenderCache::size() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_order.size();
}

}  // namespace semfield
