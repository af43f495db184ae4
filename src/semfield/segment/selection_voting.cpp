// Mask -> voxel votes with a visibility test; selection -> mask by compositing.
#include "semfield/segment/selection_voting.h"

#include <atomic>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/feature_model.h"

namespace semfield {

int64_t vote_mask(Selection& selection, const Camera& camera, const at::Tensor& mask, const at::Tensor& depth,
                  const at::Tensor& opacity, const VoteOptions& options) {
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  SEMFIELD_ASSERT(mask.dim() == 2 && mask.size(0) == h && mask.size(1) == w, "mask must be [H,W] of the camera");
  SEMFIELD_ASSERT(depth.sizes() == mask.sizes() && opacity.sizes() == mask.sizes(), "depth/opacity must match");
  const at::Tensor m = mask.to(at::kBool).contiguous(), z = depth.to(at::kFloat).contiguous(),
                   a = opacity.to(at::kFloat).contiguous();
  const bool* mp = m.data_ptr<bool>();
  const float* zp = z.data_ptr<float>();
  const float* ap = a.data_ptr<float>();
  float* pos = selection.positive().data_ptr<float>();
  float* neg = selection.negative().data_ptr<float>();
  const auto& dims = selection.dims();
  const Eigen::Vector3d lo = selection.aabb_min().cast<double>();
  const double voxel = selection.voxel_size();
  const double band = options.band_voxels * voxel;
  std::atomic<int64_t> voted{0};
  // One voxel per index: each chunk owns its voxels' votes.
  parallel_for(0, selection.voxel_count(), 4096, [&](int64_t begin, int64_t end) {
    int64_t local = 0;
    for (int64_t v = begin; v < end; ++v) {
      const int64_t k = v % dims[2], j = (v / dims[2]) % dims[1], i = v / (dims[1] * dims[2]);
      const Eigen::Vector3d centre = lo + Eigen::Vector3d(i + 0.5, j + 0.5, k + 0.5) * voxel;
      Eigen::Vector2d uv;
      double vz = 0;
      if (!camera.world_to_pixel(centre, &uv, &vz)) continue;
      if (!(uv.x() >= 0 && uv.x() < w && uv.y() >= 0 && uv.y() < h)) continue;
      const int64_t p = static_cast<int64_t>(uv.y()) * w + static_cast<int64_t>(uv.x());
      const double surface = zp[p];
      if (!(surface > 0)) continue;
      if (std::abs(vz - surface) > band + options.relative_band * surface) continue;
      const float vote = static_cast<float>(options.weight * ap[p]);
      (mp[p] ? pos : neg)[v] += vote;
      ++local;
    }
    voted += local;
  });
  return voted.load();
}

at::Tensor render_selection(const Selection& selection, const SceneModel& model, const Camera& camera) {
  at::NoGradGuard no_grad;
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const WeightedSamples samples = model.render_weights(rays.origins, rays.directions);
  if (samples.weights.numel() == 0) return at::zeros({h, w});
  const at::Tensor inside = selection.contains(samples.samples.positions).to(at::kFloat).unsqueeze(1);
  const at::Tensor selected = composite_weighted(inside, samples.weights, samples.samples.ray_offsets).view(-1);
  const at::Tensor fraction = (selected / samples.opacity.clamp_min(1e-6f)).clamp(0.0f, 1.0f);
  return at::where(samples.opacity >= 0.5f, fraction, at::zeros_like(fraction)).view({h, w}).contiguous();
}

at::Tensor selection_mask(const Selection& selection, const SceneModel& model, const Camera& camera) {
  return render_selection(selection, model, camera) > 0.5f;
}

Selection empty_selection(const SceneModel& model, int64_t resolution) {
  return Selection(model.frame().aabb_min, model.frame().aabb_max, resolution);
}

}  // namespace semfield
