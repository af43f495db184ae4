// The `sam:PATH` teacher: SAM's image embedding (out_chans x 64 x 64 for the official models), cropped to the
// part that covers the image.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "semfield/foundation/sam_model.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

/// One scale: the image embedding of SamPredictor.set_image (longest side resized to img_size, padded to a
/// square). Only the embedding cells whose centre lies inside the resized image are kept: h = ceil((new_h - p/2)
/// / p) rows and likewise columns (p = patch size), so an image with aspect ratio != 1 gets e.g. 43 x 64 cells
/// for 683 x 1024. The kept cells cover the image up to half a cell (at most p/2 resized pixels) at the
/// cropped border, which the map-geometry contract of teacher.h absorbs as a sub-cell stretch.
class SamTeacher final : public Teacher {
 public:
  /// Loads the model from a weight file or folder (see foundation/model_files.h); InputError on failure.
  explicit SamTeacher(const std::string& path);

  std::string spec() const override { return TeacherSpec{TeacherKind::Sam, m_path}.to_string(); }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return {m_model.config().out_chans}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return true; }
  /// [out_chans, h, w] float32 for the RGB image in input.rgb.
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;

  const foundation::SamModel& model() const { return m_model; }

 private:
  std::string m_path;
  foundation::SamModel m_model;
};

/// Embedding cells (rows, cols) covering an image of the given size, as SamTeacher crops them.
std::pair<int64_t, int64_t> sam_valid_cells(const foundation::SamConfig& config, int64_t image_height,
                                            int64_t image_width);

std::unique_ptr<Teacher> make_sam_teacher(const std::string& path);

}  // namespace semfield
