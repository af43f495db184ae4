// The `dino:PATH` teacher.
#include "semfield/teachers/dino_teacher.h"

#include <ATen/ATen.h>

#include "semfield/foundation/pil_resize.h"
#include "semfield/teachers/clip_teacher.h"

namespace semfield {

DinoTeacher::DinoTeacher(const std::string& path) : m_path(path), m_model(foundation::DinoModel::load(path)) {}

std::vector<std::pair<int64_t, int64_t>> DinoTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  return {aspect_grid(image_height, image_width, std::max<int64_t>(1, kShortSide / m_model.config().patch_size))};
}

std::vector<at::Tensor> DinoTeacher::compute(const TeacherInput& input) const {
  at::InferenceMode guard;
  const at::Tensor rgb = foundation::to_uint8_image(input.rgb);
  const auto [gh, gw] = map_sizes(rgb.size(0), rgb.size(1)).front();
  const int64_t p = m_model.config().patch_size;
  const at::Tensor resized = foundation::pil_resize(rgb, gh * p, gw * p, foundation::PilFilter::Bicubic);
  const foundation::DinoOutput out = m_model.forward(m_model.normalize(resized.to(at::kFloat) / 255.0f));
  return {out.patch_grid()[0].permute({2, 0, 1}).contiguous()};
}

std::unique_ptr<Teacher> make_dino_teacher(const std::string& path) { return std::make_unique<DinoTeacher>(path); }

}  // namespace semfield
