// One pass for a view's colour and semantics where a caller needs them at different times: `semfield eval` scores
// every view's colour (evaluate) before it scores their semantics (evaluate_features). A source that renders its own
// colour (SemanticSource::renders_colour: gp-nerf, gnesf with 2D maps) is wrapped in a ViewOutputCache: the colour
// pass goes through render_colour, which keeps each view's semantic outputs, and the semantic pass's render_view of
// the same camera takes them back instead of rendering the view again. With ViewCachePolicy::recent (the viewer) it
// also keeps what render_view renders, the most recent views within its byte limit, and serves them as often as
// asked: a mode's frame and the clicks on that view then render it once.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

#include <Eigen/Core>

#include "semfield/models/semantic_source.h"
#include "semfield/pipeline/view_renderer.h"

namespace semfield {

/// What a ViewOutputCache keeps. At most `max_bytes` of outputs (maps, instance logits, opacity and depths; not the
/// latent or the colour, which scores, pictures and segmenters do not read: a kept view is served without them); a view
/// larger than that is never kept and evicts nothing.
struct ViewCachePolicy {
  int64_t max_bytes = int64_t{1} << 30;
  /// false (eval): only render_colour's passes are kept, none past max_bytes, and each is served once, then dropped
  /// (every view is scored once). true (the viewer): render_view's own renders are kept too, each served as often as
  /// asked, the least recently used dropped past max_bytes.
  bool recent = false;
  /// Whether a kept view keeps its instance logits (SemanticRenderOutput::instances): eval drops them unless it scores
  /// instances (a gp-nerf run with an instance head: [R, slots] floats beside [R, classes]).
  bool keep_instances = true;
  /// The viewer's: the last views' outputs, up to `max_bytes`.
  static ViewCachePolicy recent_views(int64_t max_bytes) { return {max_bytes, true}; }
};

class ViewOutputCache final : public SemanticSource {
 public:
  /// `source` must outlive the cache and, under the eval policy (whose views come from render_colour only), render
  /// its own colour (UsageError otherwise).
  explicit ViewOutputCache(const SemanticSource& source, int64_t max_bytes = int64_t{1} << 30);
  ViewOutputCache(const SemanticSource& source, const ViewCachePolicy& policy);

  /// The camera's colour, depth and opacity pictures over `background` (as render_view of the scene model gives
  /// them), from a pass that keeps the view's semantic outputs for render_view of the same camera.
  RenderedView render_colour(const Camera& camera, const Eigen::Vector3f& background);

  /// Views whose kept outputs render_view returned, views it rendered anew, and render_colour's passes (read without
  /// the lock: for a caller that serialises its calls, as the viewer and eval do, or after them).
  int64_t hits() const { return m_hits; }
  int64_t misses() const { return m_misses; }
  int64_t colour_passes() const { return m_colour_passes; }

  // SemanticSource: the wrapped source's, with render_view served from the kept outputs when the camera is a kept
  // view's (the policy says which views are kept and for how long).
  SemanticRenderOutput render_view(const Camera& camera) const override;
  bool has_semantics() const override { return m_source.has_semantics(); }
  bool labels_points() const override { return m_source.labels_points(); }
  bool has_instances() const override { return m_source.has_instances(); }
  /// SemanticSource's, from this cache's render_view (a kept view's instance logits); the source's own error where it
  /// has no instances.
  at::Tensor render_instances(const Camera& camera) const override;
  bool has_canonical_positions() const override { return m_source.has_canonical_positions(); }
  double default_position_weight() const override { return m_source.default_position_weight(); }
  SemanticRenderOutput render_view_with_canonical_positions(const Camera& camera) const override {
    return m_source.render_view_with_canonical_positions(camera);
  }
  PointOutputs point_outputs_with_canonical_positions(const at::Tensor& points) const override {
    return m_source.point_outputs_with_canonical_positions(points);
  }
  bool has_classes() const override { return m_source.has_classes(); }
  std::vector<std::string> class_names() const override { return m_source.class_names(); }
  std::vector<int64_t> channels() const override { return m_source.channels(); }
  ChannelStats channel_stats(size_t scale) const override { return m_source.channel_stats(scale); }
  SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const override {
    return m_source.render(origins, dirs);
  }
  bool renders_colour() const override { return m_source.renders_colour(); }
  SemanticRenderOutput render_view_with_colour(const Camera& camera, const Eigen::Vector3f& background) const override {
    return m_source.render_view_with_colour(camera, background);
  }
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override {
    return m_source.point_outputs(points);
  }
  const SceneModel& scene_model() const override { return m_source.scene_model(); }

 private:
  /// Keeps `out` for `camera` (its latent and colour dropped) under the policy; the caller holds m_mutex.
  void keep(const Camera& camera, SemanticRenderOutput out) const;

  const SemanticSource& m_source;
  ViewCachePolicy m_policy;
  mutable std::mutex m_mutex;
  mutable std::deque<std::pair<Camera, SemanticRenderOutput>> m_kept;
  mutable int64_t m_bytes = 0, m_hits = 0, m_misses = 0, m_colour_passes = 0;
};

/// Whether two cameras render the same rays (intrinsics and pose equal).
bool same_camera(const Camera& a, const Camera& b);

}  // namespace semfield
