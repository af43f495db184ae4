// Default field and split selection for the segmentation commands.
#include "semfield/segment/field_choice.h"

#include <algorithm>

#include "semfield/core/error.h"
#include "semfield/models/distill_config.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/teachers/teacher_spec.h"

namespace semfield {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string choose_field(const std::filesystem::path& run_dir, const std::string& requested, FieldUse use) {
  if (!requested.empty()) return requested;
  const std::vector<std::string> names = list_distilled(run_dir);
  if (names.empty())
    fail_usage("run {} has no distilled fields: run `semfield distill --run {} --teacher SPEC` first", run_dir.string(),
               run_dir.string());
  std::vector<std::string> sam, labels, clip, other, laser, files;
  for (const std::string& name : names) {
    const std::filesystem::path config = distill_paths(run_dir, name).config();
    TeacherSpec teacher;
    bool laser_on = false;
    try {
      const DistillConfig c = load_distill_config(config);
      laser_on = c.laser.enabled;
      teacher = TeacherSpec::parse(c.teacher);
    } catch (const UsageError& e) {
      fail_input(config, "teacher", "{}", e.what());
    }
    if (laser_on) laser.push_back(name);
    if (teacher.kind == TeacherKind::Files) files.push_back(name);
    switch (teacher.kind) {
      case TeacherKind::Sam: sam.push_back(name); break;
      case TeacherKind::Labels: labels.push_back(name); break;
      case TeacherKind::Clip:
      case TeacherKind::Sclip: clip.push_back(name); break;
      case TeacherKind::Files:
      case TeacherKind::Descriptor:
      case TeacherKind::Dino: other.push_back(name); break;
    }
  }
  switch (use) {
    case FieldUse::Segment:
      for (const auto* group : {&sam, &labels, &other, &clip})
        if (!group->empty()) return group->front();
      break;
    case FieldUse::Query:
      if (!clip.empty()) return clip.front();
      fail_usage("run {} has no CLIP field (it has: {}): text queries need one, e.g. `semfield distill --run {} "
                 "--teacher clip:PATH`",
                 run_dir.string(), joined(names), run_dir.string());
    case FieldUse::Classes:
      for (const auto* group : {&laser, &clip, &files})
        if (!group->empty()) return group->front();
      fail_usage("run {} has no CLIP or CLIP-like field (it has: {}): class maps need one, e.g. `semfield distill --run "
                 "{} --teacher clip:PATH` or `--teacher files:DIR --laser on` with precomputed CLIP-like maps",
                 run_dir.string(), joined(names), run_dir.string());
    case FieldUse::Transfer:
      for (const auto* group : {&other, &clip, &sam})
        if (!group->empty()) return group->front();
      fail_usage("run {} has only label fields ({}): transfer needs a feature field, e.g. `semfield distill --run {} "
                 "--teacher descriptor`",
                 run_dir.string(), joined(names), run_dir.string());
  }
  return names.front();
}

std::string choose_semantics(const std::filesystem::path& run_dir, const LoadedRun& run, const std::string& requested,
                             FieldUse use) {
  const SemanticSource* own = run_semantic_source(run);
  const bool needs_clip = use == FieldUse::Query || use == FieldUse::Classes;
  if (requested == kModelSemantics) {
    const std::vector<std::string> names = list_distilled(run_dir);
    if (own == nullptr && std::find(names.begin(), names.end(), requested) != names.end())
      return requested;  // a distilled field named so before the name was the model's
    if (own == nullptr)
      fail_usage("run {}'s model ({}) has no semantics of its own (gp-nerf, gnesf applied with 2D maps and featurenerf "
                 "models have): give a distilled field's name",
                 run_dir.string(), run.model ? run.model->type() : std::string("none"));
    if (needs_clip)
      fail_usage("run {}: text queries and class maps need a CLIP field, not the model's own semantics",
                 run_dir.string());
    return kModelSemantics;
  }
  if (requested.empty() && own != nullptr) {
    if (use == FieldUse::Segment && list_distilled(run_dir).empty()) return kModelSemantics;
    if (use == FieldUse::Transfer && !own->has_classes()) return kModelSemantics;
  }
  return choose_field(run_dir, requested, use);
}

RunSemantics load_semantics(const std::filesystem::path& run_dir, const LoadedRun& run, const std::string& requested,
                            FieldUse use) {
  RunSemantics out;
  out.name = choose_semantics(run_dir, run, requested, use);
  if (out.name == kModelSemantics) {
    out.source = run_semantic_source(run);
  } else {
    out.field.emplace(load_distilled(run_dir, out.name, *run.model));
    out.source = out.field->model.get();
  }
  return out;
}

std::vector<const CameraRecord*> split_cameras(const std::vector<CameraRecord>& cameras, const std::string& split) {
  const Split which = parse_split(split);
  std::vector<const CameraRecord*> out;
  for (const CameraRecord& c : cameras)
    if (c.split == which) out.push_back(&c);
  if (out.empty()) fail_usage("the run has no {} views", split);
  return out;
}

}  // namespace semfield
