// The `sam:PATH` teacher.
#include "semfield/teachers/sam_teacher.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/pil_resize.h"
#include "semfield/foundation/sam_transforms.h"

namespace semfield {

std::pair<int64_t, int64_t> sam_valid_cells(const foundation::SamConfig& config, int64_t image_height,
                                            int64_t image_width) {
  if (image_height < 1 || image_width < 1) fail_usage("image size {}x{} must be positive", image_width, image_height);
  const auto [h, w] = foundation::sam_resized_shape(image_height, image_width, config.img_size);
  const int64_t p = config.patch_size;
  // Cells whose centre (i + 0.5) * p lies inside the resized image.
  const auto cells = [&](int64_t n) { return std::clamp<int64_t>((n - p / 2 + p - 1) / p, 1, config.grid()); };
  return {cells(h), cells(w)};
}

SamTeacher::SamTeacher(const std::string& path) : m_path(path), m_model(foundation::SamModel::load(path)) {}

std::vector<std::pair<int64_t, int64_t>> SamTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  return {sam_valid_cells(m_model.config(), image_height, image_width)};
}

std::vector<at::Tensor> SamTeacher::compute(const TeacherInput& input) const {
  at::InferenceMode guard;
  const at::Tensor rgb = foundation::to_uint8_image(input.rgb);
  const foundation::SamImage image = m_model.set_image(rgb);
  const auto [h, w] = sam_valid_cells(m_model.config(), rgb.size(0), rgb.size(1));
  return {image.embedding[0].narrow(1, 0, h).narrow(2, 0, w).contiguous()};
}

std::unique_ptr<Teacher> make_sam_teacher(const std::string& path) { return std::make_unique<SamTeacher>(path); }

}  // namespace semfield
