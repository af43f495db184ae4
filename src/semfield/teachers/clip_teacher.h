// The `clip:PATH` teacher: dense CLIP features in the joint image-text space (MaskCLIP), so a distilled field
// can be queried with text embeddings.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "semfield/foundation/clip_model.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

/// One scale: the image is resized (Pillow bicubic) to gh x gw patches, the shorter side getting the
/// checkpoint's own grid (image_resolution / patch, 14 for ViT-B/16) and the longer side round(grid * aspect);
/// the position table is resized bicubically when the grid differs from the checkpoint's. The map is the
/// MaskCLIP value-path feature of each patch, [embed_dim, gh, gw], not normalised (compare by cosine).
class ClipTeacher final : public Teacher {
 public:
  /// `dense`: MaskCLIP tokens (clip:PATH) or SCLIP's (sclip:PATH).
  explicit ClipTeacher(const std::string& path, foundation::ClipDense dense = foundation::ClipDense::MaskClip);

  std::string spec() const override {
    return TeacherSpec{m_dense == foundation::ClipDense::Sclip ? TeacherKind::Sclip : TeacherKind::Clip, m_path}.to_string();
  }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return {m_model.config().embed_dim}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return true; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;

  /// Text embeddings [N, embed_dim] (not normalised); UsageError without tokenizer files beside the weights.
  at::Tensor encode_text(const std::vector<std::string>& texts) const;
  const foundation::ClipModel& model() const { return m_model; }

 private:
  std::string m_path;
  foundation::ClipDense m_dense;
  foundation::ClipModel m_model;
};

/// (rows, cols) of the patch grid for an image: the shorter side gets `short_cells`, the longer
/// round(short_cells * long / short) (at least 1).
std::pair<int64_t, int64_t> aspect_grid(int64_t image_height, int64_t image_width, int64_t short_cells);

std::unique_ptr<Teacher> make_clip_teacher(const std::string& path,
                                           foundation::ClipDense dense = foundation::ClipDense::MaskClip);

}  // namespace semfield
