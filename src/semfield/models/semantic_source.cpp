// SemanticSource's default whole-view rendering.
#include "semfield/models/semantic_source.h"

#include "semfield/core/error.h"
#include "semfield/kernels/ray_generation.h"

namespace semfield {

SemanticRenderOutput SemanticSource::render_view(const Camera& camera) const {
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  return render(rays.origins, rays.directions);
}

at::Tensor SemanticSource::render_instances(const Camera& camera) const {
  if (!has_instances()) fail_usage("this semantic source segments no instances of its own");
  const SemanticRenderOutput out = render_view(camera);
  SEMFIELD_ASSERT(out.instances.defined() && out.instances.dim() == 2, "render_view gave no instance logits");
  return out.instances.t().reshape({out.instances.size(1), camera.intrinsics.height, camera.intrinsics.width});
}

SemanticRenderOutput SemanticSource::render_view_with_colour(const Camera&, const Eigen::Vector3f&) const {
  fail_usage("this semantic source renders no colour of its own (render the scene model's view)");
}

SemanticRenderOutput SemanticSource::render_view_with_canonical_positions(const Camera&) const {
  fail_usage("this semantic source regresses no canonical positions");
}

PointOutputs SemanticSource::point_outputs_with_canonical_positions(const at::Tensor&) const {
  fail_usage("this semantic source regresses no canonical positions");
}

}  // namespace semfield
