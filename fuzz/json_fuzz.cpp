// libFuzzer target: JsonNode::parse_text on arbitrary bytes, then every typed accessor on every node.
#include <cstddef>
#include <cstdint>
#include <string>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"

namespace {

// Calls each accessor that may legitimately fail with semfield::Error; anything else escapes.
template <typename F>
void tolerate(F&& f) {
  try {
    f();
  } catch (const semfield::Error&) {
  }
}

void walk(const semfield::JsonNode& node, int depth) {
  tolerate([&] { node.as_matrix4(); });
  tolerate([&] { node.as_doubles(); });
  tolerate([&] { node.as_double(); });
  tolerate([&] { node.as_int(); });
  tolerate([&] { node.as_bool(); });
  tolerate([&] { node.as_string(); });
  tolerate([&] { node.reject_unknown_keys({"a", "frames"}); });
  tolerate([&] { node.double_or("fl_x", 1.0); });
  tolerate([&] { node.int_or("w", 1); });
  if (depth > 64) return;  // the parser accepts deep nesting; the walk need not follow it all the way
  for (const std::string& key : node.keys()) walk(node.at(key), depth + 1);
  if (node.is_array())
    for (size_t i = 0; i < node.size(); ++i) walk(node.at(i), depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto root = semfield::JsonNode::parse_text(std::string(reinterpret_cast<const char*>(data), size),
                                                     "fuzz.json");
    walk(root, 0);
  } catch (const semfield::Error&) {
  }
  return 0;
}
