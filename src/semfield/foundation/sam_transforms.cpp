// SAM pre- and post-processing.
#include "semfield/foundation/sam_transforms.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/pil_resize.h"

namespace semfield::foundation {

std::pair<int64_t, int64_t> sam_resized_shape(int64_t height, int64_t width, int64_t long_side) {
  const double scale = static_cast<double>(long_side) / static_cast<double>(std::max(height, width));
  return {static_cast<int64_t>(static_cast<double>(height) * scale + 0.5),
          static_cast<int64_t>(static_cast<double>(width) * scale + 0.5)};
}

at::Tensor sam_resize_image(const at::Tensor& rgb_uint8, int64_t long_side) {
  if (rgb_uint8.dim() != 3 || rgb_uint8.size(2) != 3 || rgb_uint8.scalar_type() != at::kByte)
    fail_usage("SAM expects a uint8 RGB image [H, W, 3]");
  const auto [h, w] = sam_resized_shape(rgb_uint8.size(0), rgb_uint8.size(1), long_side);
  if (h == rgb_uint8.size(0) && w == rgb_uint8.size(1)) return rgb_uint8;
  return pil_resize(rgb_uint8, std::max<int64_t>(h, 1), std::max<int64_t>(w, 1), PilFilter::Bilinear);
}

at::Tensor sam_normalize_and_pad(const at::Tensor& rgb_uint8, const std::array<double, 3>& mean,
                                 const std::array<double, 3>& std, int64_t img_size) {
  const int64_t h = rgb_uint8.size(0), w = rgb_uint8.size(1);
  if (h > img_size || w > img_size) fail_usage("image {}x{} is larger than SAM's {} input", w, h, img_size);
  const at::Tensor m = at::tensor(std::vector<float>(mean.begin(), mean.end())).view({3, 1, 1});
  const at::Tensor s = at::tensor(std::vector<float>(std.begin(), std.end())).view({3, 1, 1});
  const at::Tensor x = (rgb_uint8.permute({2, 0, 1}).to(at::kFloat) - m) / s;
  return at::constant_pad_nd(x, {0, img_size - w, 0, img_size - h}).unsqueeze(0).contiguous();
}

at::Tensor sam_apply_coords(const at::Tensor& coords, int64_t original_h, int64_t original_w, int64_t long_side) {
  const auto [h, w] = sam_resized_shape(original_h, original_w, long_side);
  const at::Tensor c = coords.to(at::kDouble);
  const at::Tensor x = c.select(-1, 0) * (static_cast<double>(w) / static_cast<double>(original_w));
  const at::Tensor y = c.select(-1, 1) * (static_cast<double>(h) / static_cast<double>(original_h));
  return at::stack({x, y}, -1).to(at::kFloat);
}

at::Tensor sam_apply_boxes(const at::Tensor& boxes, int64_t original_h, int64_t original_w, int64_t long_side) {
  return sam_apply_coords(boxes.reshape({-1, 2, 2}), original_h, original_w, long_side).reshape({-1, 4});
}

at::Tensor sam_postprocess_masks(const at::Tensor& masks, std::pair<int64_t, int64_t> input_size,
                                 std::pair<int64_t, int64_t> original_size, int64_t img_size) {
  at::Tensor x = at::upsample_bilinear2d(masks, {img_size, img_size}, false);
  x = x.narrow(2, 0, input_size.first).narrow(3, 0, input_size.second);
  return at::upsample_bilinear2d(x, {original_size.first, original_size.second}, false);
}

}  // namespace semfield::foundation
