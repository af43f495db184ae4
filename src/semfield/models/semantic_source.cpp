// SemanticSource's default whole-view rendering.
#include "semfield/models/semantic_source.h"

#include "semfield/kernels/ray_generation.h"

namespace semfield {

SemanticRenderOutput SemanticSource::render_view(const Camera& camera) const {
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  return render(rays.origins, rays.directions);
}

}  // namespace semfield
