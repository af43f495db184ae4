// Typed, located access to JSON documents: every error names the file and the key path ("frames[3].fl_x").
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace semfield {

/// A view of one node of a parsed JSON document that remembers where it came from.
/// Accessors validate type (and finiteness for numbers) and throw InputError(file, key_path, ...).
/// Copies are cheap: the document is shared.
class JsonNode {
 public:
  /// Parses a file; malformed JSON throws InputError naming the file, line and column.
  static JsonNode parse_file(const std::filesystem::path& path);
  /// Parses text that claims to come from `origin` (used in messages).
  static JsonNode parse_text(const std::string& text, const std::filesystem::path& origin);

  const std::filesystem::path& file() const { return m_file; }
  const std::string& key_path() const { return m_key_path; }
  const nlohmann::json& raw() const { return *m_node; }

  bool is_object() const { return m_node->is_object(); }
  bool is_array() const { return m_node->is_array(); }
  bool is_null() const { return m_node->is_null(); }
  bool is_number() const { return m_node->is_number(); }
  bool is_string() const { return m_node->is_string(); }

  /// Object access. `at` requires the key; `find` returns nullopt when it is absent (or null).
  bool has(const std::string& key) const;
  JsonNode at(const std::string& key) const;
  std::optional<JsonNode> find(const std::string& key) const;
  std::vector<std::string> keys() const;
  /// Throws if the object has a key outside `allowed` (configs reject misspellings).
  void reject_unknown_keys(const std::vector<std::string>& allowed) const;

  /// Array access.
  size_t size() const;
  JsonNode at(size_t index) const;

  /// Scalars. Numbers must be finite; integers must be integral.
  double as_double() const;
  int64_t as_int() const;
  bool as_bool() const;
  std::string as_string() const;
  std::vector<double> as_doubles() const;  ///< an array of finite numbers
  /// A 4x4 (or 3x4, completed with [0 0 0 1]) row-major nested array of finite numbers.
  Eigen::Matrix4d as_matrix4() const;

  /// Optional scalars with a default when the key is absent; present-but-wrong still throws.
  double double_or(const std::string& key, double fallback) const;
  int64_t int_or(const std::string& key, int64_t fallback) const;
  bool bool_or(const std::string& key, bool fallback) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;

  /// Throws InputError(file, key_path, message).
  [[noreturn]] void fail(const std::string& message) const;

 private:
  JsonNode(std::shared_ptr<const nlohmann::json> doc, const nlohmann::json* node,
           std::filesystem::path file, std::string key_path)
      : m_doc(std::move(doc)), m_node(node), m_file(std::move(file)), m_key_path(std::move(key_path)) {}
  std::string type_name() const;

  std::shared_ptr<const nlohmann::json> m_doc;
  const nlohmann::json* m_node;
  std::filesystem::path m_file;
  std::string m_key_path;
};

}  // namespace semfield
