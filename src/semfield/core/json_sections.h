// Config sections as visitor lists: one list of (name, field) pairs per struct serves JSON writing, reading
// and unknown-key validation, so a hyper-parameter is named exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "semfield/core/json_reader.h"

namespace semfield::json_sections {

inline void read_value(const JsonNode& node, int& out) { out = static_cast<int>(node.as_int()); }
inline void read_value(const JsonNode& node, int64_t& out) { out = node.as_int(); }
inline void read_value(const JsonNode& node, uint64_t& out) {
  const int64_t v = node.as_int();
  if (v < 0) node.fail("expected a non-negative integer");
  out = static_cast<uint64_t>(v);
}
inline void read_value(const JsonNode& node, double& out) { out = node.as_double(); }
inline void read_value(const JsonNode& node, bool& out) { out = node.as_bool(); }
inline void read_value(const JsonNode& node, std::string& out) { out = node.as_string(); }

/// `visit(section, visitor)` calls visitor(name, field) for every field of the section.
template <typename Section, typename VisitFn>
nlohmann::json to_json(Section section, VisitFn visit) {
  nlohmann::json out = nlohmann::json::object();
  visit(section, [&](const char* name, auto& value) { out[name] = value; });
  return out;
}

/// Overrides the fields present in `node`; unknown keys and wrong types are InputErrors naming the key path.
template <typename Section, typename VisitFn>
void from_json(const JsonNode& node, Section& section, VisitFn visit) {
  std::vector<std::string> allowed;
  visit(section, [&](const char* name, auto&) { allowed.emplace_back(name); });
  node.reject_unknown_keys(allowed);
  visit(section, [&](const char* name, auto& value) {
    if (auto child = node.find(name)) read_value(*child, value);
  });
}

}  // namespace semfield::json_sections
