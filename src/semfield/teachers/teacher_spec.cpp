// Teacher specs: text <-> kind and argument.
#include "semfield/teachers/teacher_spec.h"

#include "semfield/core/error.h"

namespace semfield {

namespace {

struct TeacherKindEntry {
  TeacherKind kind;
  const char* name;
  const char* forms;  ///< the accepted texts, as the unknown-kind error lists them
};

// One row per kind, in the order the unknown-kind error lists them.
constexpr TeacherKindEntry kTeacherKinds[] = {
    {TeacherKind::Descriptor, "descriptor", "descriptor"},
    {TeacherKind::Labels, "labels", "labels:semantic, labels:instance, labels:DIR"},
    {TeacherKind::Files, "files", "files:DIR"},
    {TeacherKind::Sam, "sam", "sam:PATH"},
    {TeacherKind::Clip, "clip", "clip:PATH"},
    {TeacherKind::Sclip, "sclip", "sclip:PATH"},
    {TeacherKind::Dino, "dino", "dino:PATH"},
};

std::string valid_teacher_specs() {
  std::string out;
  for (const TeacherKindEntry& entry : kTeacherKinds) out += (out.empty() ? "" : ", ") + std::string(entry.forms);
  return out;
}

}  // namespace

const char* teacher_kind_name(TeacherKind kind) {
  for (const TeacherKindEntry& entry : kTeacherKinds)
    if (entry.kind == kind) return entry.name;
  SEMFIELD_ASSERT(false, "unhandled teacher kind");
}

std::string TeacherSpec::to_string() const {
  const std::string name = teacher_kind_name(kind);
  return kind == TeacherKind::Descriptor ? name : name + ":" + arg;
}

TeacherSpec TeacherSpec::parse(const std::string& text) {
  const size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  const TeacherKindEntry* entry = nullptr;
  for (const TeacherKindEntry& e : kTeacherKinds)
    if (name == e.name) entry = &e;
  if (entry == nullptr) fail_usage("unknown teacher '{}'; valid: {}", text, valid_teacher_specs());
  TeacherSpec spec;
  spec.kind = entry->kind;
  spec.arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  // "descriptor:" is refused too, so that to_string() gives back the text.
  if (spec.kind == TeacherKind::Descriptor) {
    if (colon != std::string::npos) fail_usage("teacher 'descriptor' takes no argument, got '{}'", text);
  } else if (spec.arg.empty()) {
    if (spec.kind == TeacherKind::Labels)
      fail_usage("teacher '{}': expected labels:semantic, labels:instance or labels:DIR", text);
    fail_usage("teacher '{}' needs a path: {}:PATH", text, name);
  }
  return spec;
}

bool TeacherSpec::is_foundation_model() const {
  return kind == TeacherKind::Sam || kind == TeacherKind::Clip || kind == TeacherKind::Sclip || kind == TeacherKind::Dino;
}

}  // namespace semfield
