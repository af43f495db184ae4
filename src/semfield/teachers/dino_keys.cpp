// FeatureNeRF's DINO key features (dino_keys.h).
#include "semfield/teachers/dino_keys.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

at::Tensor dino_keys_map(const foundation::DinoModel& model, const at::Tensor& rgb, const at::Tensor& foreground,
                         int64_t block) {
  at::NoGradGuard no_grad;
  SEMFIELD_ASSERT(rgb.dim() == 3 && rgb.size(0) == 3, "dino_keys_map: rgb [3,H,W] expected");
  const int64_t h = rgb.size(1), w = rgb.size(2);
  const at::Tensor up = at::upsample_bilinear2d(rgb.unsqueeze(0).to(at::kFloat), {2 * h, 2 * w}, false).clamp(0, 1);
  const at::Tensor input = model.normalize(up.squeeze(0).permute({1, 2, 0}));
  int64_t gh = 0, gw = 0;
  const at::Tensor keys = model.block_keys(input, block, &gh, &gw);  // [1, 1 + gh*gw, C]
  at::Tensor map = keys.squeeze(0).narrow(0, 1, gh * gw).t().reshape({-1, gh, gw}).contiguous();
  if (foreground.defined()) {
    const at::Tensor fg = at::upsample_nearest2d(foreground.to(at::kFloat).view({1, 1, h, w}), {gh, gw}).view({1, gh, gw});
    map = map * fg.gt(0).to(at::kFloat);
  }
  return map;
}

}  // namespace semfield
