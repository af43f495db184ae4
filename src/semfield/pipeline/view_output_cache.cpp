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
  for (const at::Tensor* t : {&out.opacity, &out.depth, &out.median_depth})
    if (t->defined()) bytes += t->numel() * static_cast<int64_t>(t->element_size());
  return bytes;
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
    : m_source(source), m_max_bytes(max_bytes) {
  if (!source.renders_colour()) fail_usage("this semantic source renders no colour of its own to share a pass with");
}

RenderedView ViewOutputCache::render_colour(const Camera& camera, const Eigen::Vector3f& background) {
  const auto start = std::chrono::steady_clock::now();
  SemanticRenderOutput out = m_source.render_view_with_colour(camera, background);
  RenderedView view = view_from_colour_pass(camera, out);
  view.seconds = seconds_since(start);
  out.rgb = at::Tensor();
  out.latent = at::Tensor();
  const int64_t bytes = output_bytes(out);
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_bytes + bytes <= m_max_bytes) {
    m_kept.emplace_back(camera, std::move(out));
    m_bytes += bytes;
  }
  return view;
}

SemanticRenderOutput ViewOutputCache::render_view(const Camera& camera) const {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (auto it = m_kept.begin(); it != m_kept.end(); ++it)
      if (same_camera(it->first, camera)) {
        SemanticRenderOutput out = std::move(it->second);
        m_bytes -= output_bytes(out);
        m_kept.erase(it);
        ++m_hits;
        return out;
      }
    ++m_misses;
  }
  return m_source.render_view(camera);
}

}  // namespace semfield
