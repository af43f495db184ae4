// Renders whole views of a semantic source (feature or label field) into maps, plus the pictures people look at:
// a PCA view of features and colour-coded label maps.
#pragma once

#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"
#include "semfield/models/semantic_source.h"
#include "semfield/pipeline/view_renderer.h"

namespace semfield {

struct RenderedFeatures {
  std::vector<at::Tensor> maps;  ///< per scale [C_s, H, W] (Labels: class logits)
  at::Tensor opacity;            ///< [H, W]
  /// [D, H, W] the latent the maps are decoded from, when the source has one (SemanticRenderOutput::latent)
  at::Tensor latent;
  /// [slots, H, W] instance logits, when the source has instances of its own (SemanticRenderOutput::instances)
  at::Tensor instances;
  /// The view's colour, depth and opacity pictures from the same pass (render_features_with_colour); empty otherwise.
  std::optional<RenderedView> view;
  double seconds = 0;
};

/// Renders every scale at the camera's own resolution (resize its intrinsics to render at a teacher's map
/// resolution: Intrinsics::resized).
RenderedFeatures render_features(const SemanticSource& source, const Camera& camera);
/// The same with the view's pictures over `background` in `view`, from one pass of a source that renders its own
/// colour (SemanticSource::renders_colour; UsageError otherwise): what render_view and render_features give apart.
RenderedFeatures render_features_with_colour(const SemanticSource& source, const Camera& camera,
                                             const Eigen::Vector3f& background);

/// The camera resized to a map of the teacher for an image of the camera's size (scale `scale`).
Camera camera_for_map(const Camera& camera, int64_t map_height, int64_t map_width);

/// A 3-component PCA projection of features, fitted once (e.g. on a first view) and reused so colours
/// are consistent across views.
class FeaturePca {
 public:
  /// features [C,H,W]; uses at most 65536 pixels; colours map the 1st..99th percentile of each
  /// component to [0,1].
  explicit FeaturePca(const at::Tensor& features);
  /// [C,H,W] -> RGB image H x W x 3 in [0,1].
  Image apply(const at::Tensor& features) const;

 private:
  at::Tensor m_mean, m_components, m_low, m_high;  // [C], [C,3], [3], [3]
};

/// Distinct colour of a class id (id 0 is dark grey; -1, unlabelled, is black).
Eigen::Vector3f label_color(int64_t id);
/// Class ids [H,W] int64 -> H x W x 3 image.
Image colorize_labels(const at::Tensor& ids);

}  // namespace semfield
