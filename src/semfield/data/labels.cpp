// labels.json: what the instance and class ids of a scene's id maps mean.
#include "semfield/data/labels.h"

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"

namespace semfield {

namespace {

int read_id(const JsonNode& entry) {
  const JsonNode node = entry.at("id");
  const int64_t id = node.as_int();
  if (id < 0 || id > 0x7FFFFFFF) node.fail(fmt::format("expected an id in [0, 2^31), got {}", id));
  return static_cast<int>(id);
}

Eigen::Vector3d read_point(const JsonNode& node) {
  const std::vector<double> v = node.as_doubles();
  if (v.size() != 3) node.fail(fmt::format("expected 3 numbers, got {}", v.size()));
  return {v[0], v[1], v[2]};
}

}  // namespace

LabelSet read_labels(const std::filesystem::path& path) {
  const JsonNode doc = JsonNode::parse_file(path);
  if (!doc.is_object()) doc.fail("expected a JSON object with \"classes\" and/or \"instances\"");
  LabelSet out;
  if (const auto classes = doc.find("classes")) {
    for (size_t i = 0; i < classes->size(); ++i) {
      const JsonNode entry = classes->at(i);
      Label label;
      label.id = read_id(entry);
      label.name = entry.at("name").as_string();
      label.class_name = label.name;
      label.class_id = label.id;
      if (!out.classes.emplace(label.id, label).second)
        entry.at("id").fail(fmt::format("duplicate class id {}", label.id));
    }
  }
  if (const auto instances = doc.find("instances")) {
    for (size_t i = 0; i < instances->size(); ++i) {
      const JsonNode entry = instances->at(i);
      Label label;
      label.id = read_id(entry);
      label.name = entry.string_or("name", "instance_" + std::to_string(label.id));
      label.class_name = entry.string_or("class", "");
      if (const auto class_id = entry.find("class_id")) {
        const int64_t id = class_id->as_int();
        if (id < -1 || id > 0x7FFFFFFF) class_id->fail(fmt::format("expected a class id >= 0, got {}", id));
        label.class_id = static_cast<int>(id);
        if (label.class_id >= 0 && !out.classes.empty()) {
          const auto cls = out.classes.find(label.class_id);
          if (cls == out.classes.end()) {
            // One instance's dangling class must not cost the class list (what eval --gt semantic needs) or the other
            // instances: kept without a class, named in a warning.
            log::warn("{}: {}: class id {} is not listed in \"classes\"; instance {} is kept without a class id{}",
                      class_id->file().string(), class_id->key_path(), label.class_id, label.id,
                      label.class_name.empty() ? std::string()
                                               : fmt::format(" (its \"class\" stays {})", label.class_name));
            label.class_id = -1;
          } else if (label.class_name.empty()) {
            label.class_name = cls->second.name;
          }
        }
      }
      const auto lo = entry.find("bbox_min"), hi = entry.find("bbox_max");
      if (lo.has_value() != hi.has_value())
        entry.fail("bbox_min and bbox_max must be given together");
      if (lo) {
        const Eigen::Vector3d a = read_point(*lo), b = read_point(*hi);
        if ((a.array() > b.array()).any()) hi->fail("bbox_max must be >= bbox_min in every coordinate");
        label.bbox = Eigen::AlignedBox3d(a, b);
      }
      if (!out.instances.emplace(label.id, label).second)
        entry.at("id").fail(fmt::format("duplicate instance id {}", label.id));
    }
  }
  return out;
}

std::string class_name_key(const std::string& name) {
  std::string out;
  bool gap = false;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == '_') {
      gap = true;
      continue;
    }
    if (gap && !out.empty()) out += '_';
    gap = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  }
  return out;
}

}  // namespace semfield
