// The viewer's session store: an LRU map of tab sessions.
#include "semfield/serve/viewer_session.h"

#include "semfield/core/error.h"

namespace semfield {

SessionStore::SessionStore(size_t capacity) : m_capacity(capacity) {
  SEMFIELD_ASSERT(capacity >= 1, "a session store needs room for one session");
}

std::shared_ptr<ViewerSession> SessionStore::find(const std::string& id) {
  std::lock_guard<std::mutex> lock(m_mutex);
  const auto it = m_index.find(id);
  if (it == m_index.end()) return nullptr;
  m_order.splice(m_order.begin(), m_order, it->second);
  return *it->second;
}

std::shared_ptr<ViewerSession> SessionStore::get(const std::string& id) {
  std::lock_guard<std::mutex> lock(m_mutex);
  const auto it = m_index.find(id);
  if (it != m_index.end()) {
    m_order.splice(m_order.begin(), m_order, it->second);
    return *it->second;
  }
  while (m_order.size() >= m_capacity) {
    m_index.erase(m_order.back()->id);
    m_order.pop_back();
  }
  m_order.push_front(std::make_shared<ViewerSession>(id));
  m_index[id] = m_order.begin();
  return m_order.front();
}

size_t SessionStore::size() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_order.size();
}

std::vector<std::string> SessionStore::ids() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& session : m_order) out.push_back(session->id);
  return out;
}

}  // namespace semfield
