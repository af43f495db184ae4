// Typed, located access to JSON documents.
#include "semfield/core/json_reader.h"

#include <cmath>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"

namespace semfield {

namespace fs = std::filesystem;

JsonNode JsonNode::parse_file(const fs::path& path) { return parse_text(read_file_text(path), path); }

JsonNode JsonNode::parse_text(const std::string& text, const fs::path& origin) {
  auto doc = std::make_shared<nlohmann::json>();
  try {
    *doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Convert the byte offset into a line/column a person can jump to.
    size_t line = 1, col = 1;
    const size_t end = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    throw InputError(origin, "", fmt::format("malformed JSON at line {}, column {}", line, col));
  } catch (const nlohmann::json::out_of_range& e) {
    // A number literal beyond double range (1e309) is reported as out_of_range, not parse_error.
    throw InputError(origin, "", fmt::format("malformed JSON: {}", e.what()));
  }
  const nlohmann::json* root = doc.get();
  return JsonNode(std::move(doc), root, origin, "");
}

std::string JsonNode::type_name() const { return m_node->type_name(); }

void JsonNode::fail(const std::string& message) const {
  throw InputError(m_file, m_key_path.empty() ? "(root)" : m_key_path, message);
}

bool JsonNode::has(const std::string& key) const {
  return m_node->is_object() && m_node->contains(key) && !(*m_node)[key].is_null();
}

JsonNode JsonNode::at(const std::string& key) const {
  if (!m_node->is_object()) fail(fmt::format("expected an object, got {}", type_name()));
  auto it = m_node->find(key);
  const std::string child = m_key_path.empty() ? key : m_key_path + "." + key;
  if (it == m_node->end()) throw InputError(m_file, child, "missing required key");
  return JsonNode(m_doc, &*it, m_file, child);
}

std::optional<JsonNode> JsonNode::find(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return at(key);
}

std::vector<std::string> JsonNode::keys() const {
  std::vector<std::string> out;
  if (m_node->is_object())
    for (auto it = m_node->begin(); it != m_node->end(); ++it) out.push_back(it.key());
  return out;
}

void JsonNode::reject_unknown_keys(const std::vector<std::string>& allowed) const {
  if (!m_node->is_object()) fail(fmt::format("expected an object, got {}", type_name()));
  for (const auto& k : keys()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      const std::string child = m_key_path.empty() ? k : m_key_path + "." + k;
      throw InputError(m_file, child, fmt::format("unknown key (allowed: {})", fmt::join(allowed, ", ")));
    }
  }
}

size_t JsonNode::size() const {
  if (!m_node->is_array()) fail(fmt::format("expected an array, got {}", type_name()));
  return m_node->size();
}

JsonNode JsonNode::at(size_t index) const {
  const size_t n = size();
  const std::string child = m_key_path + "[" + std::to_string(index) + "]";
  if (index >= n) throw InputError(m_file, child, fmt::format("index out of range (size {})", n));
  return JsonNode(m_doc, &(*m_node)[index], m_file, child);
}

double JsonNode::as_double() const {
  if (!m_node->is_number()) fail(fmt::format("expected a number, got {}", type_name()));
  const double v = m_node->get<double>();
  if (!std::isfinite(v)) fail("expected a finite number");
  return v;
}

int64_t JsonNode::as_int() const {
  if (m_node->is_number_integer()) return m_node->get<int64_t>();
  const double v = as_double();
  if (std::floor(v) != v || std::fabs(v) > 9.0e15) fail(fmt::format("expected an integer, got {}", v));
  return static_cast<int64_t>(v);
}

bool JsonNode::as_bool() const {
  if (!m_node->is_boolean()) fail(fmt::format("expected a boolean, got {}", type_name()));
  return m_node->get<bool>();
}

std::string JsonNode::as_string() const {
  if (!m_node->is_string()) fail(fmt::format("expected a string, got {}", type_name()));
  return m_node->get<std::string>();
}

std::vector<double> JsonNode::as_doubles() const {
  std::vector<double> out(size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = at(i).as_double();
  return out;
}

Eigen::Matrix4d JsonNode::as_matrix4() const {
  if (!m_node->is_array()) fail(fmt::format("expected a 4x4 matrix (array of rows), got {}", type_name()));
  const size_t rows = m_node->size();
  if (rows != 4 && rows != 3) fail(fmt::format("expected a 4x4 matrix, got {} rows", rows));
  Eigen::Matrix4d m = Eigen::Matrix4d::Identity();
  for (size_t r = 0; r < rows; ++r) {
    const JsonNode row = at(r);
    if (!row.is_array() || row.size() != 4)
      row.fail(fmt::format("expected a row of 4 numbers, got {}",
                           row.is_array() ? std::to_string(row.size()) + " entries" : row.type_name()));
    for (size_t c = 0; c < 4; ++c) m(static_cast<int>(r), static_cast<int>(c)) = row.at(c).as_double();
  }
  return m;
}

double JsonNode::double_or(const std::string& key, double fallback) const {
  return has(key) ? at(key).as_double() : fallback;
}
int64_t JsonNode::int_or(const std::string& key, int64_t fallback) const {
  return has(key) ? at(key).as_int() : fallback;
}
bool JsonNode::bool_or(const std::string& key, bool fallback) const {
  return has(key) ? at(key).as_bool() : fallback;
}
std::string JsonNode::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? at(key).as_string() : fallback;
}

}  // namespace semfield
