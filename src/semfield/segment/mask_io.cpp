// PNG masks, id maps and label files; resampling between image and feature resolution.
#include "semfield/segment/mask_io.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/io/image.h"
#include "semfield/io/image_torch.h"
#include "semfield/render/colormap.h"

namespace semfield {

namespace {

Image to_image(const at::Tensor& values) {
  SEMFIELD_ASSERT(values.dim() == 2, "expected [H,W]");
  return tensor_to_image(values);
}

}  // namespace

void write_mask_png(const std::filesystem::path& path, const at::Tensor& mask) {
  write_png(path, to_image(mask.to(at::kBool)), 8, ImageRange::Unit);
}

at::Tensor read_mask_png(const std::filesystem::path& path) {
  const Image image = read_image(path, ImageRange::Unit);
  at::Tensor mask = at::zeros({image.height, image.width}, at::kBool);
  bool* m = mask.data_ptr<bool>();
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) m[static_cast<int64_t>(y) * image.width + x] = image.at(x, y, 0) > 0.5f;
  return mask;
}

void write_ids_png(const std::filesystem::path& path, const at::Tensor& ids, int bit_depth) {
  SEMFIELD_ASSERT(bit_depth == 8 || bit_depth == 16, "id PNGs are 8 or 16-bit");
  write_png(path, to_image(ids.clamp(0, bit_depth == 8 ? 255 : 65535)), bit_depth, ImageRange::Raw);
}

at::Tensor read_label_png(const std::filesystem::path& path, int width, int height) {
  const Image image = read_image(path, ImageRange::Raw);
  if (image.channels != 1)
    fail_input(path, "", "a label file must be a 1-channel (gray) PNG of integer ids, got {} channels", image.channels);
  if (image.width != width || image.height != height)
    fail_input(path, "", "label file is {} x {} pixels but the source view is {} x {}", image.width, image.height, width,
               height);
  at::Tensor ids = at::empty({height, width}, at::kLong);
  int64_t* p = ids.data_ptr<int64_t>();
  for (size_t i = 0; i < image.pixels.size(); ++i) p[i] = static_cast<int64_t>(std::lround(image.pixels[i]));
  if (!(ids > 0).any().item<bool>()) fail_input(path, "", "no labelled pixel (every id is 0, which means unlabelled)");
  return ids;
}

void write_scalar_png(const std::filesystem::path& path, const at::Tensor& values) {
  write_png(path, apply_turbo(to_image(values.clamp(0, 1)), 0.0f, 1.0f, false), 8, ImageRange::Unit);
}

Camera working_camera(const Camera& camera, int max_side) {
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  if (std::max(w, h) <= max_side) return camera;
  const double scale = static_cast<double>(max_side) / std::max(w, h);
  Camera out = camera;
  out.intrinsics = camera.intrinsics.resized(std::max(1, static_cast<int>(std::lround(w * scale))),
                                             std::max(1, static_cast<int>(std::lround(h * scale))));
  return out;
}

at::Tensor resample_nearest(const at::Tensor& map, int64_t height, int64_t width) {
  const int64_t h = map.size(0), w = map.size(1);
  if (h == height && w == width) return map;
  // Target pixel centre (i + 0.5) maps to source coordinate (i + 0.5) * h / height.
  const at::Tensor rows = ((at::arange(height, at::kDouble) + 0.5) * h / height).floor().clamp(0, h - 1).to(at::kLong);
  const at::Tensor cols = ((at::arange(width, at::kDouble) + 0.5) * w / width).floor().clamp(0, w - 1).to(at::kLong);
  return map.index_select(0, rows).index_select(1, cols).contiguous();
}

at::Tensor resample_bilinear(const at::Tensor& map, int64_t height, int64_t width) {
  if (map.size(0) == height && map.size(1) == width) return map;
  return at::upsample_bilinear2d(map.to(at::kFloat).view({1, 1, map.size(0), map.size(1)}), {height, width}, false)
      .view({height, width})
      .contiguous();
}

}  // namespace semfield
