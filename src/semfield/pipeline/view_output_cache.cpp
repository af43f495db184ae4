// ViewOutputCache: one pass for a view's colour and semantics.
#include "semfield/pipeline/view_output_cache.h"

#include <chrono>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/progress.h"

namespace semfield {

namespace {

int64_t output_bytes(const SemanticRenderOutput& out) {
  int64_t bytes = 0;
  for (const at::Tensor& m : out.maps) bytes += m.numel() * static_cast<int64_t>(m.element_size());
  for (const at::Tensor* t : {&out.opacity, &out.depth, &out.median_depth, &out.canonical_positions, &out.instances})
    if (t->defined()) bytes += t->numel() * static_cast<int64_t>(t->element_size());
  return bytes;
}

/// A deep copy: what the cache serves more than once is never the storage a caller got (or may change in place).
SemanticRenderOutput cloned(const SemanticRenderOutput& out) {
  SemanticRenderOutput copy;
  for (const at::Tensor& m : out.maps) copy.maps.push_back(m.clone());
  const auto clone = [](const at::Tensor& t) { return t.defined() ? t.clone() : at::Tensor(); };
  copy.opacity = clone(out.opacity);
  copy.depth = clone(out.depth);
  copy.median_depth = clone(out.median_depth);
  copy.canonical_positions = clone(out.canonical_positions);
  copy.instances = clone(out.instances);
  return copy;
}

}  // namespace

bool same_camera(const Camera& a, const Camera& b) {
  const Intrinsics &p = a.intrinsics, &q = b.intrinsics;
  const Distortion &d = p.distortion, &e = q.distortion;
  return p.width == q.width && p.height == q.height && p.fx == q.fx && p.fy == q.fy && p.cx == q.cx && p.cy == q.cy &&
         p.model == q.model && d.k1 == e.k1 && d.k2 == e.k2 && d.k3 == e.k3 && d.k4 == e.k4 && d.p1 == e.p1 &&
         d.p2 == e.p2 && a.c2w == b.c2w;
}

ViewOutputCache::ViewOutputCache(const SemanticSource& source, int64_t max_bytes)
    : ViewOutputCache(source, ViewCachePolicy{max_bytes, false}) {}

ViewOutputCache::ViewOutputCache(const SemanticSource& source, const ViewCachePolicy& policy)
    : m_source(source), m_policy(policy) {
  if (!policy.recent && !source.renders_colour())
    fail_usage("this semantic source renders no colour of its own to share a pass with");
}

void ViewOutputCache::keep(const Camera& camera, SemanticRenderOutput out) const {
  out.rgb = at::Tensor();
  out.latent = at::Tensor();
  if (!m_policy.keep_instances) out.instances = at::Tensor();
  const int64_t bytes = output_bytes(out);
  if (bytes > m_policy.max_bytes) return;  // never fits: keep what is kept
  if (m_policy.recent) {
    for (auto it = m_kept.begin(); it != m_kept.end(); ++it)
      if (same_camera(it->first, camera)) {
        m_bytes -= output_bytes(it->second);
        m_kept.erase(it);
        break;
      }
    while (!m_kept.empty() && m_bytes + bytes > m_policy.max_bytes) {  // the least recently used first
      m_bytes -= output_bytes(m_kept.front().second);
      m_kept.pop_front();
    }
  }
  if (m_bytes + bytes <= m_policy.max_bytes) {
    m_kept.emplace_back(camera, std::move(out));
    m_bytes += bytes;
  }
}

RenderedView ViewOutputCache::render_colour(const Camera& camera, const Eigen::Vector3f& background) {
  const auto start = std::chrono::steady_clock::now();
  SemanticRenderOutput out = m_source.render_view_with_colour(camera, background);
  RenderedView view = view_from_colour_pass(camera, out);
  view.seconds = seconds_since(start);
  std::lock_guard<std::mutex> lock(m_mutex);
  ++m_colour_passes;
  keep(camera, std::move(out));
  return view;
}

at::Tensor ViewOutputCache::render_instances(const Camera& camera) const {
  if (!m_source.has_instances()) return m_source.render_instances(camera);  // its error, saying how to get them
  return SemanticSource::render_instances(camera);
}

SemanticRenderOutput ViewOutputCache::render_view(const Camera& camera) const {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (auto it = m_kept.begin(); it != m_kept.end(); ++it)
      if (same_camera(it->first, camera)) {
        ++m_hits;
        if (m_policy.recent) {  // served again later: a copy, and the view becomes the most recently used
          SemanticRenderOutput out = cloned(it->second);
          std::pair<Camera, SemanticRenderOutput> entry = std::move(*it);
          m_kept.erase(it);
          m_kept.push_back(std::move(entry));
          return out;
        }
        SemanticRenderOutput out = std::move(it->second);
        m_bytes -= output_bytes(out);
        m_kept.erase(it);
        return out;
      }
    ++m_misses;
  }
  SemanticRenderOutput out = m_source.render_view(camera);
  if (m_policy.recent && output_bytes(out) <= m_policy.max_bytes) {  // no copy of a view that never fits
    std::lock_guard<std::mutex> lock(m_mutex);
    keep(camera, cloned(out));
  }
  return out;
}

}  // namespace semfield
