// The `dino:PATH` teacher: DINO ViT patch features (the final LayerNorm'd patch tokens).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "semfield/foundation/dino_model.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

/// One scale: the image is resized (Pillow bicubic) so its shorter side is kShortSide pixels and both sides
/// are whole patches (the longer one round(aspect * short cells)); the map is [embed_dim, gh, gw] with
/// gh x gw = the patch grid (28 x 28 cells per 224 pixels at patch 8). Position tables are interpolated as
/// the reference's interpolate_pos_encoding does.
class DinoTeacher final : public Teacher {
 public:
  static constexpr int64_t kShortSide = 224;

  explicit DinoTeacher(const std::string& path);

  std::string spec() const override { return TeacherSpec{TeacherKind::Dino, m_path}.to_string(); }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return {m_model.config().embed_dim}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return true; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;

  const foundation::DinoModel& model() const { return m_model; }

 private:
  std::string m_path;
  foundation::DinoModel m_model;
};

std::unique_ptr<Teacher> make_dino_teacher(const std::string& path);

}  // namespace semfield
