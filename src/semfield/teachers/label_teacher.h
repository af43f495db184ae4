// The `labels` teacher: per-image integer label maps (the dataset's semantic or instance frames, or a
// folder of maps) as per-class probabilities, optionally thinned or corrupted to study sparse/noisy labels.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "semfield/teachers/teacher.h"

namespace semfield {

enum class LabelSource { Semantic, Instance, Directory };

class LabelTeacher final : public Teacher {
 public:
  /// Semantic/Instance read View::semantic / View::instance (ids >= 0; every id is a class, 0 included).
  /// Directory reads DIR/<stem>.png (single-channel 8/16-bit integer ids) or DIR/<stem>.npy (integer ids
  /// [h,w], or float probabilities [K,h,w]). The class count is the largest id found in the scene's maps
  /// and labels.json, plus one. Throws InputError when no view has a map (compute() names a view without one),
  /// and for Semantic/Instance when the scene's labels.json could not be read (Scene::require_labels).
  LabelTeacher(LabelSource source, std::filesystem::path directory, const Scene& scene,
               LabelDegradation degradation = {});

  std::string spec() const override;
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Labels; }
  std::vector<int64_t> channels() const override { return {m_num_classes}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return false; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;
  bool covers(const View& view) const override { return read_map(view, false).defined(); }

  int64_t num_classes() const { return m_num_classes; }
  /// The view's clean label ids [h,w] int64 (-1 = unlabelled), or an undefined tensor when it has none.
  at::Tensor label_ids(const View& view) const;

 private:
  at::Tensor read_map(const View& view, bool required) const;  // ids [h,w] int64, or probabilities [K,h,w]

  LabelSource m_source;
  std::filesystem::path m_directory;
  LabelDegradation m_degradation;
  int64_t m_num_classes = 0;
  std::vector<int64_t> m_train_classes;  ///< sorted ids that occur in the training views' 2D maps (noise draws)
};

/// The teacher of a labels spec: arg "semantic", "instance" or a folder (DIR). UsageError for another kind.
std::unique_ptr<LabelTeacher> make_label_teacher(const TeacherSpec& spec, const Scene& scene,
                                                 LabelDegradation degradation = {});
/// The same for a spec's text ("labels:semantic", "labels:instance" or "labels:DIR"; TeacherSpec::parse).
std::unique_ptr<LabelTeacher> make_label_teacher(const std::string& spec, const Scene& scene,
                                                 LabelDegradation degradation = {});

}  // namespace semfield
