// A small least-recently-used cache of encoded frames, so a still view that is asked for again (a tab
// returning to a camera, a second tab on the same view) costs no render.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

/// An encoded frame and the surface it shows (see RenderedFrame), so a cached frame can still get its overlay.
struct CachedFrame {
  std::vector<uint8_t> png;
  at::Tensor depth, opacity;  ///< [H,W] float32
};

/// Frames by key, at most `capacity` entries. Thread-safe.
class RenderCache {
 public:
  explicit RenderCache(size_t capacity) : m_capacity(capacity) {}

  std::optional<CachedFrame> find(const std::string& key);
  void put(const std::string& key, CachedFrame frame);
  size_t size() const;

 private:
  using Entry = std::pair<std::string, CachedFrame>;
  size_t m_capacity;
  mutable std::mutex m_mutex;
  std::list<Entry> m_order;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> m_index;
};

}  // namespace semfield
