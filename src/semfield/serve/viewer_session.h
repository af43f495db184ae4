// Per-tab state of the viewer: the tab's segmenter and prompts, its 3D selection, the mask it shows and its
// text query, kept apart from every other tab's; and the store that holds a bounded number of them.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/segment/segment_session.h"
#include "semfield/segment/segmenter.h"
#include "semfield/segment/selection.h"

namespace semfield {

/// One browser tab (the page sends a random id with every request). Fields other than `latest_frame` are
/// read and written only under the server's model lock.
struct ViewerSession {
  explicit ViewerSession(std::string session_id) : id(std::move(session_id)) {}

  std::string id;
  /// The tab's own segmenter: Segmenter::segment() remembers the object for follow(), so tabs cannot share one.
  std::unique_ptr<Segmenter> segmenter;
  /// Prompts since the last "lift to 3D": their mask follows the camera through SegmentSession::follow.
  std::unique_ptr<SegmentSession> draft;
  /// Selections lifted to 3D (votes summed over lifts); rendered into every view.
  std::optional<Selection> committed;
  at::Tensor mask;  ///< the mask shown last, bool [H,W] (undefined before the first)
  /// The view prepared for segmentation last (rendering it is the slow part of a click), and its camera key.
  std::optional<SegmentView> prepared;
  std::string prepared_key;
  std::string text;  ///< the text query of the relevancy mode ("" = none)
  /// Newest frame sequence number received: an older frame still waiting for the model is dropped unrendered.
  std::atomic<int64_t> latest_frame{0};
};

/// Sessions by id, at most `capacity`; making a new one past that evicts the least recently used. Thread-safe.
/// Evicted sessions stay valid for requests that already hold them (shared ownership).
class SessionStore {
 public:
  explicit SessionStore(size_t capacity);

  /// The session of `id`, created if absent; marks it most recently used.
  std::shared_ptr<ViewerSession> get(const std::string& id);
  /// The session of `id` if it exists (nullptr otherwise); marks it most recently used.
  std::shared_ptr<ViewerSession> find(const std::string& id);

  size_t size() const;
  size_t capacity() const { return m_capacity; }
  /// Ids from the most to the least recently used.
  std::vector<std::string> ids() const;

 private:
  size_t m_capacity;
  mutable std::mutex m_mutex;
  std::list<std::shared_ptr<ViewerSession>> m_order;  // front = most recently used
  std::unordered_map<std::string, std::list<std::shared_ptr<ViewerSession>>::iterator> m_index;
};

}  // namespace semfield
