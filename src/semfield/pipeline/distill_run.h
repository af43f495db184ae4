// Distilled fields stored inside a radiance run: RUN/distill/<name>/{config.json, checkpoint.ckpt,
// progress.jsonl, eval/}. A run can hold several (e.g. "sam", "labels-semantic"); each checkpoint is
// self-contained apart from the radiance model it renders with.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "semfield/core/tensor_state.h"
#include "semfield/models/distill_config.h"
#include "semfield/models/feature_model.h"
#include "semfield/teachers/teacher_spec.h"

namespace semfield {

struct DistillPaths {
  std::filesystem::path root;
  std::filesystem::path config() const { return root / "config.json"; }
  std::filesystem::path checkpoint() const { return root / "checkpoint.ckpt"; }
  std::filesystem::path progress() const { return root / "progress.jsonl"; }
  std::filesystem::path eval_dir() const { return root / "eval"; }
};

/// RUN/distill/<name>; the name must be a plain folder name (letters, digits, '-', '_', '.').
DistillPaths distill_paths(const std::filesystem::path& run_dir, const std::string& name);
/// A default name for a teacher spec: "labels-semantic", "descriptor", "sam", "files-<folder>", ...
std::string default_distill_name(const TeacherSpec& teacher);
/// The same for a spec's text (TeacherSpec::parse; UsageError for a malformed one).
std::string default_distill_name(const std::string& teacher_spec);
/// Names of the distilled fields of a run (folders holding a checkpoint), sorted.
std::vector<std::string> list_distilled(const std::filesystem::path& run_dir);

struct DistillState {
  int64_t step = 0;
  double elapsed_seconds = 0;
};

/// The teacher's map sizes for a reference image size, so raw maps can be rendered at the teacher's
/// resolution for any camera without the teacher.
struct MapGrid {
  int64_t image_height = 0, image_width = 0;
  std::vector<std::pair<int64_t, int64_t>> sizes;  ///< (h, w) per scale
  /// Sizes for an image of another size (scaled, at least 1).
  std::vector<std::pair<int64_t, int64_t>> for_image(int64_t height, int64_t width) const;
};

void save_distill_checkpoint(const DistillPaths& paths, const DistillConfig& config, const FeatureModel& model,
                             const DistillState& state, const MapGrid& grid, const TensorMap& optimizer_state);

struct LoadedDistill {
  std::string name;
  DistillConfig config;
  TeacherSpec teacher;  ///< config.teacher, parsed
  std::unique_ptr<FeatureModel> model;
  DistillState state;
  MapGrid grid;
  TensorMap optimizer_state;  ///< "optim.*" tensors, for resuming
};

/// Loads RUN/distill/<name>/checkpoint.ckpt onto `radiance` (which must outlive the result). Throws
/// InputError for a missing field (listing the run's fields), a truncated/foreign checkpoint or tensors that
/// do not match.
LoadedDistill load_distilled(const std::filesystem::path& run_dir, const std::string& name,
                             const SceneModel& radiance);

/// The name commands give a run model's own semantics (run_semantic_source: GP-NeRF's classes, GNeSF's votes,
/// FeatureNeRF's descriptors) beside the run's distilled fields: `--field semantics`, `--labels semantics`. No new
/// distilled field may take it (distill_field refuses it; a field of that name from before is read where the run's
/// model has no semantics of its own).
inline constexpr const char* kModelSemantics = "semantics";

/// A run's semantics as a command reads them: one of its distilled fields (loaded here) or its model's own.
struct RunSemantics {
  std::string name;                    ///< the field's name, or kModelSemantics
  std::optional<LoadedDistill> field;  ///< the distilled field; unset for the model's own semantics
  const SemanticSource* source = nullptr;  ///< field->model, or the run's model (which must outlive this)
  /// What the semantics were learnt from, for summaries: the field's teacher spec, or "model:<type>" (gp-nerf...).
  std::string origin() const;
};

/// How messages name a run model's own semantics: "the run model's own semantics (model:<type>)", <type> the model's
/// SceneModel::type() (as RunSemantics::origin() gives it).
std::string model_semantics_description(const std::string& model_type);

/// Per-class counts of labels `ids` (int, [N]) given by `source`, in labels.json's schema:
/// {"classes": [{"id", "name" (when the source names its classes), count_key: count}]}, classes of count 0 left out.
nlohmann::json class_counts_json(const SemanticSource& source, const at::Tensor& ids, const std::string& count_key);

struct LoadedRun;
/// A run's source of class labels by name: kModelSemantics — the run's own model (a gnesf model applied with 2D maps,
/// a gp-nerf model) — or a distilled label field's name (loaded into `holder`, which must outlive the result).
/// UsageError, starting with `what`, for a run without semantics, a model or field of features rather than classes.
const SemanticSource& class_label_source(const LoadedRun& run, const std::filesystem::path& run_dir,
                                         const std::string& name, std::optional<LoadedDistill>& holder,
                                         const std::string& what);

}  // namespace semfield
