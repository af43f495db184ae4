// A teacher spec ("labels:semantic", "files:DIR", "descriptor", "sam:PATH", ...) parsed once into its kind and
// argument, so no caller takes the text apart itself.
#pragma once

#include <string>

namespace semfield {

/// Every teacher semfield builds (docs/teachers.md).
enum class TeacherKind {
  Labels,      ///< "labels:semantic" | "labels:instance" | "labels:DIR"
  Files,       ///< "files:DIR": precomputed maps
  Descriptor,  ///< "descriptor": the built-in weight-free descriptor (takes no argument)
  Sam,         ///< "sam:PATH"
  Clip,        ///< "clip:PATH" (MaskCLIP dense tokens)
  Sclip,       ///< "sclip:PATH" (the same CLIP weights, SCLIP's correlative self-attention: Laser's dense tokens)
  Dino,        ///< "dino:PATH"
};

/// The kind's name as written in a spec: "labels", "files", "descriptor", "sam", "clip", "dino".
const char* teacher_kind_name(TeacherKind kind);

/// A teacher spec. The text form is "KIND" (descriptor) or "KIND:ARG" (every other kind), split at the first ':'
/// (so a path may hold colons); configs and run folders store that text, and parse(to_string()) gives back the
/// same spec, to_string(parse(text)) the same text.
struct TeacherSpec {
  TeacherKind kind = TeacherKind::Descriptor;
  /// Labels: "semantic", "instance" or a folder; Files: a folder; Sam, Clip, Dino: a weight file or folder;
  /// Descriptor: empty. Never empty for the other kinds.
  std::string arg;

  std::string to_string() const;
  /// Parses a spec's text. UsageError naming the text: an unknown kind (listing the valid specs), a kind that
  /// needs an argument given none ("files", "sam:", "labels"), or "descriptor" given one.
  static TeacherSpec parse(const std::string& text);

  /// Whether the teacher is a foundation model (sam, clip, dino: `arg` is its weights), which runs on any image
  /// without a scene.
  bool is_foundation_model() const;
  /// Whether the teacher is CLIP (clip or sclip: `arg` is CLIP weights with a text tower).
  bool is_clip() const { return kind == TeacherKind::Clip || kind == TeacherKind::Sclip; }

  bool operator==(const TeacherSpec& other) const { return kind == other.kind && arg == other.arg; }
  bool operator!=(const TeacherSpec& other) const { return !(*this == other); }
};

}  // namespace semfield
