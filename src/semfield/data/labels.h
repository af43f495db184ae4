// labels.json: what the instance and class ids of a scene's id maps mean (docs/formats.md).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "semfield/data/scene.h"

namespace semfield {

struct LabelSet {
  std::map<int, Label> instances;  ///< "instances", by id
  std::map<int, Label> classes;    ///< "classes", by id (class_name = name, class_id = id)
};

/// Reads labels.json. Both arrays are optional. Class entries: "id" (integer >= 0), "name" (string).
/// Instance entries: "id" (integer >= 0), "name" (default "instance_<id>"), "class" (string),
/// "class_id" (integer; one that "classes" does not list is warned about and dropped: -1), "bbox_min"/"bbox_max"
/// (3 numbers each, both or neither, min <= max, original world coordinates). An instance with a
/// class_id but no "class" takes the class's name. Duplicate ids, wrong types and non-finite numbers
/// throw InputError naming the file and key path ("instances[2].bbox_max").
LabelSet read_labels(const std::filesystem::path& path);

/// The key class names are matched by across tools (eval --gt, a model's class set against a scene's labels.json):
/// ASCII lower case, surrounding white space trimmed, runs of spaces, '-' and '_' as one '_' — so another tool's
/// "Sphere", "sphere " or "Coffee-Table" meets "sphere" and "coffee_table". Nothing else (plurals, synonyms) is guessed.
std::string class_name_key(const std::string& name);

}  // namespace semfield
