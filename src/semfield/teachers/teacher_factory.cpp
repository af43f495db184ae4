// make_teacher: teacher specs -> teachers.
#include "semfield/core/error.h"
#include "semfield/teachers/clip_teacher.h"
#include "semfield/teachers/descriptor_teacher.h"
#include "semfield/teachers/dino_teacher.h"
#include "semfield/teachers/file_teacher.h"
#include "semfield/teachers/label_teacher.h"
#include "semfield/teachers/sam_teacher.h"
#include "semfield/teachers/teacher.h"

namespace semfield {

std::unique_ptr<Teacher> make_foundation_teacher(const TeacherSpec& spec) {
  switch (spec.kind) {
    case TeacherKind::Sam: return make_sam_teacher(spec.arg);
    case TeacherKind::Clip: return make_clip_teacher(spec.arg);
    case TeacherKind::Sclip: return make_clip_teacher(spec.arg, foundation::ClipDense::Sclip);
    case TeacherKind::Dino: return make_dino_teacher(spec.arg);
    case TeacherKind::Labels:
    case TeacherKind::Files:
    case TeacherKind::Descriptor: break;
  }
  fail_usage("teacher '{}' is not a foundation model (sam:PATH, clip:PATH, sclip:PATH or dino:PATH)", spec.to_string());
}

std::unique_ptr<Teacher> make_teacher(const TeacherSpec& spec, const Scene& scene,
                                      const LabelDegradation& label_degradation) {
  switch (spec.kind) {
    case TeacherKind::Descriptor: return std::make_unique<DescriptorTeacher>();
    case TeacherKind::Labels: return make_label_teacher(spec, scene, label_degradation);
    case TeacherKind::Files: return std::make_unique<FileTeacher>(spec.arg, scene);
    case TeacherKind::Sam:
    case TeacherKind::Clip:
    case TeacherKind::Sclip:
    case TeacherKind::Dino: return make_foundation_teacher(spec);
  }
  SEMFIELD_ASSERT(false, "unhandled teacher kind");
}

std::unique_ptr<Teacher> make_teacher(const std::string& spec, const Scene& scene,
                                      const LabelDegradation& label_degradation) {
  return make_teacher(TeacherSpec::parse(spec), scene, label_degradation);
}

}  // namespace semfield
