// The `files` teacher: precomputed per-image feature maps (.npy or .safetensors) matched by image stem.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "semfield/teachers/teacher.h"

namespace semfield {

/// DIR/<stem>.npy holds one map [C,h,w] (or [1,C,h,w]); DIR/<stem>.safetensors holds one tensor per scale,
/// taken in name order (e.g. "scale0", "scale1"). Every view's maps must have the channels and sizes of the
/// first training view's (sizes scale with the image for scenes of mixed resolutions); floating dtypes only.
class FileTeacher final : public Teacher {
 public:
  /// Reads the first training view's maps to learn channels and sizes; throws InputError if it has none.
  FileTeacher(std::filesystem::path directory, const Scene& scene);

  std::string spec() const override { return TeacherSpec{TeacherKind::Files, m_directory.string()}.to_string(); }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return m_channels; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return false; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;

  /// Whether a view has a map file (held-out views may lack one: no feature error is measured there).
  bool covers(const View& view) const override;

 private:
  std::vector<at::Tensor> read_maps(const View& view) const;

  std::filesystem::path m_directory;
  std::vector<int64_t> m_channels;
  std::vector<std::pair<int64_t, int64_t>> m_sizes;  // of the reference view
  int64_t m_reference_height = 0, m_reference_width = 0;
};

}  // namespace semfield
