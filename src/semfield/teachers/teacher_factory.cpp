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

std::unique_ptr<Teacher> make_teacher(const std::string& spec, const Scene& scene,
                                      const LabelDegradation& label_degradation) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "descriptor") {
    if (!arg.empty()) fail_usage("teacher 'descriptor' takes no argument, got '{}'", spec);
    return std::make_unique<DescriptorTeacher>();
  }
  if (kind == "labels") return make_label_teacher(spec, scene, label_degradation);
  if (arg.empty() && (kind == "files" || kind == "sam" || kind == "clip" || kind == "dino"))
    fail_usage("teacher '{}' needs a path: {}:PATH", spec, kind);
  if (kind == "files") return std::make_unique<FileTeacher>(arg, scene);
  if (kind == "sam") return make_sam_teacher(arg);
  if (kind == "clip") return make_clip_teacher(arg);
  if (kind == "dino") return make_dino_teacher(arg);
  fail_usage("unknown teacher '{}'; valid: descriptor, labels:semantic, labels:instance, labels:DIR, files:DIR, "
             "sam:PATH, clip:PATH, dino:PATH",
             spec);
}

}  // namespace semfield
