// The `clip:PATH` teacher.
#include "semfield/teachers/clip_teacher.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/pil_resize.h"

namespace semfield {

std::pair<int64_t, int64_t> aspect_grid(int64_t image_height, int64_t image_width, int64_t short_cells) {
  if (image_height < 1 || image_width < 1) fail_usage("image size {}x{} must be positive", image_width, image_height);
  const double ratio = static_cast<double>(std::max(image_height, image_width)) /
                       static_cast<double>(std::min(image_height, image_width));
  const int64_t long_cells = std::max<int64_t>(1, std::llround(static_cast<double>(short_cells) * ratio));
  return image_height <= image_width ? std::make_pair(short_cells, long_cells) : std::make_pair(long_cells, short_cells);
}

ClipTeacher::ClipTeacher(const std::string& path, foundation::ClipDense dense)
    : m_path(path), m_dense(dense), m_model(foundation::ClipModel::load(path)) {}

std::vector<std::pair<int64_t, int64_t>> ClipTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  return {aspect_grid(image_height, image_width, m_model.config().grid())};
}

std::vector<at::Tensor> ClipTeacher::compute(const TeacherInput& input) const {
  at::InferenceMode guard;
  const at::Tensor rgb = foundation::to_uint8_image(input.rgb);
  const auto [gh, gw] = aspect_grid(rgb.size(0), rgb.size(1), m_model.config().grid());
  const int64_t p = m_model.config().vision_patch_size;
  const at::Tensor resized = foundation::pil_resize(rgb, gh * p, gw * p, foundation::PilFilter::Bicubic);
  const foundation::ClipImageOutput out = m_model.encode_image(m_model.normalize(resized.to(at::kFloat) / 255.0f), true, false, m_dense);
  return {out.dense[0].t().reshape({-1, gh, gw}).contiguous()};
}

at::Tensor ClipTeacher::encode_text(const std::vector<std::string>& texts) const {
  at::InferenceMode guard;
  const at::Tensor tokens = m_model.tokenizer().tokenize(texts, m_model.config().context_length, true);
  return m_model.encode_text(tokens).embedding;
}

std::unique_ptr<Teacher> make_clip_teacher(const std::string& path, foundation::ClipDense dense) {
  return std::make_unique<ClipTeacher>(path, dense);
}

}  // namespace semfield
