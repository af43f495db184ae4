// What segmenters, text queries, evaluators and the viewer read semantics from: features or class logits rendered
// for rays (whole views are rendered through this: pipeline/feature_renderer.h, segment/segment_view.h), the same
// at 3D points, and the scene model whose density the rays are composited with. Today's implementation is the
// distilled feature or label field (models/feature_model.h); code above models/ takes a SemanticSource, never a
// concrete model.
//
// Coordinates are the scene model's normalised frame (scene_model.h); ray directions are unit vectors; distances
// are in normalised units.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"

namespace semfield {

class SceneModel;

/// A semantic source's outputs for R rays.
struct SemanticRenderOutput {
  /// Per scale [R, C_s]: features in the units of the maps the source learned from (a teacher's), or, for a source
  /// with classes, one scale of class logits [R, K].
  std::vector<at::Tensor> maps;
  at::Tensor opacity;       ///< [R] in [0,1]
  at::Tensor depth;         ///< [R] expected distance t / opacity (normalised units); 0 where empty
  at::Tensor median_depth;  ///< [R] median termination distance (scene_model.h median_depth); 0 where empty
  /// [R, D] the composited latent the maps are decoded from, for sources that have one (FeatureModel: background
  /// included); undefined otherwise.
  at::Tensor latent;
  /// [R, 3] each ray's canonical position x̂ (render_view_with_canonical_positions); undefined otherwise.
  at::Tensor canonical_positions;
  /// [R, 3] each ray's colour over the given background (render_view_with_colour); undefined otherwise.
  at::Tensor rgb;
  /// [R, slots] instance logits of a whole view's pixels, for a source with instances of its own (has_instances:
  /// GP-NeRF's instance head, decoded in the same pass as the classes); undefined otherwise.
  at::Tensor instances;
};

/// A source's outputs at points with their canonical positions (point_outputs_with_canonical_positions).
struct PointOutputs {
  std::vector<at::Tensor> maps;    ///< per scale [N, C_s], as point_outputs
  at::Tensor canonical_positions;  ///< [N, 3]
};

/// Per-channel statistics of one scale's outputs over the maps the source learned from: similarity measures
/// standardise features with them so that every channel counts alike.
struct ChannelStats {
  at::Tensor mean;  ///< [C_s]
  at::Tensor std;   ///< [C_s], > 0
};

class SemanticSource {
 public:
  virtual ~SemanticSource() = default;

  /// Whether the source has semantics to give (a gnesf run applied without 2D maps renders radiance only).
  virtual bool has_semantics() const { return true; }
  /// Whether point_outputs gives labels of 3D points (GP-NeRF's head labels whole 2D views only).
  virtual bool labels_points() const { return true; }
  /// Whether the source segments instances of its own (GP-NeRF's instance head), apart from its classes.
  virtual bool has_instances() const { return false; }
  /// Instance logits [slots,H,W] of a camera's view; UsageError for a source without instances. The default reads
  /// render_view(camera).instances (a cache's render_view serves a view it keeps).
  virtual at::Tensor render_instances(const Camera& camera) const;
  /// Whether the source also regresses where each point lies in a canonical frame shared by every scene its model
  /// applies to (FeatureNeRF's trained coordinate head x̂: a category's instances are canonically aligned), so
  /// transfer across scenes can weigh position beside the features (`transfer --coordinate-weight`).
  virtual bool has_canonical_positions() const { return false; }
  /// The weight `transfer` gives the canonical positions when the user names none: 0 for a source without them.
  virtual double default_position_weight() const { return 0; }
  /// render_view's outputs with x̂ of every pixel in `canonical_positions` [H*W, 3] (the expected x̂ along each ray
  /// given it hits; 0 where empty), from the same pass; and point_outputs with x̂ at the points [N,3] (normalised
  /// frame). UsageError for a source without canonical positions.
  virtual SemanticRenderOutput render_view_with_canonical_positions(const Camera& camera) const;
  virtual PointOutputs point_outputs_with_canonical_positions(const at::Tensor& points) const;
  /// Whether the outputs are class logits (one scale of K = channels()[0] classes; class k is label id k) rather
  /// than features.
  virtual bool has_classes() const = 0;
  /// Names of the classes by id when the source knows them; empty for a source without classes or whose classes
  /// have no names (ids only).
  virtual std::vector<std::string> class_names() const = 0;
  /// Output channels of each scale (at least one scale).
  virtual std::vector<int64_t> channels() const = 0;
  /// Statistics of scale `scale`'s outputs (scale < channels().size(); an internal error otherwise).
  virtual ChannelStats channel_stats(size_t scale) const = 0;

  /// Inference for rays origins/dirs [R,3] (R may be 0): every scale's maps, opacity and depths. Thread-safe
  /// (const).
  virtual SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor& dirs) const = 0;
  /// The same for every pixel of a camera's image (row-major: R = H * W): what whole-view renderers call. The default
  /// renders the camera's rays; a source whose outputs depend on a view's context (GP-NeRF's perception head)
  /// overrides it.
  virtual SemanticRenderOutput render_view(const Camera& camera) const;
  /// Whether render_view_with_colour is available: the source is the scene model of its run (gp-nerf; gnesf with 2D
  /// maps) and its semantic pass computes the view's colour on the way.
  virtual bool renders_colour() const { return false; }
  /// render_view's outputs with the view's colour over `background` in `rgb` [H*W, 3] from the same pass — the
  /// colour scene_model().render gives these rays over that background — for callers that want both (`semfield
  /// render`, `eval` through pipeline/view_output_cache.h) without rendering the view twice. UsageError where
  /// renders_colour() is false.
  virtual SemanticRenderOutput render_view_with_colour(const Camera& camera,
                                                       const Eigen::Vector3f& background) const;
  /// Per-point outputs, per scale [N, C_s], at points [N,3] taken as if opaque (for a source with classes, the
  /// points' class logits). UsageError for points of another shape.
  virtual std::vector<at::Tensor> point_outputs(const at::Tensor& points) const = 0;

  /// The scene model whose density the rays are composited with (depth, opacity and selections come from it).
  virtual const SceneModel& scene_model() const = 0;
};

}  // namespace semfield
