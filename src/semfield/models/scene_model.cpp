// The parts of the scene-model interface every model shares.
#include "semfield/models/scene_model.h"

#include <ATen/ATen.h>

#include "semfield/render/contraction.h"

namespace semfield {

at::Tensor SceneModel::to_unit_cube(const at::Tensor& points) const {
  const SceneFrame& f = frame();
  if (f.unbounded) return (contract_points(points) + 2.0f) * 0.25f;
  const at::Tensor lo = at::tensor({f.aabb_min.x(), f.aabb_min.y(), f.aabb_min.z()});
  const at::Tensor hi = at::tensor({f.aabb_max.x(), f.aabb_max.y(), f.aabb_max.z()});
  return ((points - lo) / (hi - lo)).clamp(0.0f, 1.0f);
}

}  // namespace semfield
