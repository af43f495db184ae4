// labels.json: what the instance and class ids of a scene's id maps mean (docs/formats.md).
#pragma once

#include <filesystem>
#include <map>

#include "semfield/data/scene.h"

namespace semfield {

struct LabelSet {
  std::map<int, Label> instances;  ///< "instances", by id
  std::map<int, Label> classes;    ///< "classes", by id (class_name = name, class_id = id)
};

/// Reads labels.json. Both arrays are optional. Class entries: "id" (integer >= 0), "name" (string).
/// Instance entries: "id" (integer >= 0), "name" (default "instance_<id>"), "class" (string),
/// "class_id" (integer; must name a listed class when "classes" is given), "bbox_min"/"bbox_max"
/// (3 numbers each, both or neither, min <= max, original world coordinates). An instance with a
/// class_id but no "class" takes the class's name. Duplicate ids, wrong types and non-finite numbers
/// throw InputError naming the file and key path ("instances[2].bbox_max").
LabelSet read_labels(const std::filesystem::path& path);

}  // namespace semfield
