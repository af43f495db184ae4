// PLY mesh files: binary little-endian writer; ascii / binary reader of vertices, colours and faces.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/mesh/mesh_io.h"

namespace semfield {

namespace {

enum class PlyType { Int8, Uint8, Int16, Uint16, Int32, Uint32, Float32, Float64 };

bool parse_ply_type(const std::string& name, PlyType* type) {
  static const std::pair<const char*, PlyType> kNames[] = {
      {"char", PlyType::Int8},     {"int8", PlyType::Int8},       {"uchar", PlyType::Uint8},
      {"uint8", PlyType::Uint8},   {"short", PlyType::Int16},     {"int16", PlyType::Int16},
      {"ushort", PlyType::Uint16}, {"uint16", PlyType::Uint16},   {"int", PlyType::Int32},
      {"int32", PlyType::Int32},   {"uint", PlyType::Uint32},     {"uint32", PlyType::Uint32},
      {"float", PlyType::Float32}, {"float32", PlyType::Float32}, {"double", PlyType::Float64},
      {"float64", PlyType::Float64}};
  for (const auto& [n, t] : kNames)
    if (name == n) {
      *type = t;
      return true;
    }
  return false;
}

size_t ply_type_size(PlyType type) {
  switch (type) {
    case PlyType::Int8: case PlyType::Uint8: return 1;
    case PlyType::Int16: case PlyType::Uint16: return 2;
    case PlyType::Int32: case PlyType::Uint32: case PlyType::Float32: return 4;
    case PlyType::Float64: return 8;
  }
  return 0;
}

bool is_integer(PlyType type) { return type != PlyType::Float32 && type != PlyType::Float64; }

struct PlyProperty {
  std::string name;
  PlyType type = PlyType::Float32;
  bool is_list = false;
  PlyType count_type = PlyType::Uint8;
};

struct PlyElement {
  std::string name;
  int64_t count = 0;
  std::vector<PlyProperty> properties;
};

enum class PlyEncoding { Ascii, LittleEndian, BigEndian };

// Reads the values after end_header, in any of the three encodings, as doubles.
class PlyBody {
 public:
  PlyBody(const std::vector<uint8_t>& bytes, size_t offset, PlyEncoding encoding, std::filesystem::path path)
      : m_bytes(bytes), m_pos(offset), m_encoding(encoding), m_path(std::move(path)) {}

  double read(PlyType type, const std::string& where) {
    if (m_encoding == PlyEncoding::Ascii) return read_ascii(where);
    const size_t size = ply_type_size(type);
    if (m_pos + size > m_bytes.size()) fail_input(m_path, where, "the file ends early");
    uint8_t raw[8];
    for (size_t i = 0; i < size; ++i)
      raw[i] = m_bytes[m_pos + (m_encoding == PlyEncoding::LittleEndian ? i : size - 1 - i)];
    m_pos += size;
    switch (type) {
      case PlyType::Int8: return static_cast<int8_t>(raw[0]);
      case PlyType::Uint8: return raw[0];
      case PlyType::Int16: return load<int16_t>(raw);
      case PlyType::Uint16: return load<uint16_t>(raw);
      case PlyType::Int32: return load<int32_t>(raw);
      case PlyType::Uint32: return load<uint32_t>(raw);
      case PlyType::Float32: return load<float>(raw);
      case PlyType::Float64: return load<double>(raw);
    }
    return 0;
  }

  size_t remaining() const { return m_bytes.size() - m_pos; }

 private:
  // Bytes were put in little-endian order above; the host is assumed little-endian (x86-64, aarch64).
  template <typename T>
  static T load(const uint8_t* raw) {
    T value;
    std::memcpy(&value, raw, sizeof(T));
    return value;
  }

  double read_ascii(const std::string& where) {
    while (m_pos < m_bytes.size() && std::isspace(m_bytes[m_pos])) ++m_pos;
    const size_t start = m_pos;
    while (m_pos < m_bytes.size() && !std::isspace(m_bytes[m_pos])) ++m_pos;
    if (start == m_pos) fail_input(m_path, where, "the file ends early");
    const std::string token(reinterpret_cast<const char*>(m_bytes.data()) + start, m_pos - start);
    char* end = nullptr;
    const double value = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size()) fail_input(m_path, where, "'{}' is not a number", token);
    return value;
  }

  const std::vector<uint8_t>& m_bytes;
  size_t m_pos;
  PlyEncoding m_encoding;
  std::filesystem::path m_path;
};

void append_le(std::string& out, const void* data, size_t size) {
  // Little-endian output on a little-endian host (see PlyBody::load).
  out.append(static_cast<const char*>(data), size);
}

}  // namespace

void write_ply(const std::filesystem::path& path, const TriangleMesh& mesh) {
  std::string out = fmt::format(
      "ply\nformat binary_little_endian 1.0\ncomment written by semfield\nelement vertex {}\n"
      "property float x\nproperty float y\nproperty float z\n{}element face {}\n"
      "property list uchar int vertex_indices\nend_header\n",
      mesh.vertices.size(),
      mesh.has_colors() ? "property uchar red\nproperty uchar green\nproperty uchar blue\n" : "", mesh.faces.size());
  out.reserve(out.size() + mesh.vertices.size() * 15 + mesh.faces.size() * 13);
  for (size_t v = 0; v < mesh.vertices.size(); ++v) {
    append_le(out, mesh.vertices[v].data(), 3 * sizeof(float));
    if (mesh.has_colors())
      for (int c = 0; c < 3; ++c) {
        const auto byte = static_cast<uint8_t>(std::lround(std::clamp(mesh.colors[v][c], 0.0f, 1.0f) * 255.0f));
        out.push_back(static_cast<char>(byte));
      }
  }
  for (const auto& f : mesh.faces) {
    out.push_back(3);
    append_le(out, f.data(), 3 * sizeof(int32_t));
  }
  write_file_atomic(path, out);
}

TriangleMesh read_ply(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const std::string text(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(bytes.size(), 1 << 16)));
  const size_t header_end = text.find("end_header");
  if (text.compare(0, 3, "ply") != 0) fail_input(path, "", "not a PLY file (it does not start with 'ply')");
  if (header_end == std::string::npos) fail_input(path, "header", "no 'end_header' line");
  size_t body = text.find('\n', header_end);
  if (body == std::string::npos) fail_input(path, "header", "no line break after 'end_header'");
  ++body;

  PlyEncoding encoding = PlyEncoding::Ascii;
  bool have_format = false;
  std::vector<PlyElement> elements;
  std::istringstream header(text.substr(0, header_end));
  std::string line;
  int line_no = 0;
  while (std::getline(header, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream words(line);
    std::string word;
    words >> word;
    const std::string where = fmt::format("header line {}", line_no);
    if (line_no == 1 || word.empty() || word == "comment" || word == "obj_info") continue;
    if (word == "format") {
      std::string name;
      words >> name;
      if (name == "ascii") encoding = PlyEncoding::Ascii;
      else if (name == "binary_little_endian") encoding = PlyEncoding::LittleEndian;
      else if (name == "binary_big_endian") encoding = PlyEncoding::BigEndian;
      else fail_input(path, where, "unknown format '{}'", name);
      have_format = true;
    } else if (word == "element") {
      PlyElement element;
      if (!(words >> element.name >> element.count) || element.count < 0)
        fail_input(path, where, "expected 'element <name> <count>'");
      elements.push_back(element);
    } else if (word == "property") {
      if (elements.empty()) fail_input(path, where, "property before any element");
      PlyProperty prop;
      std::string type;
      words >> type;
      if (type == "list") {
        std::string count_type;
        words >> count_type >> type;
        prop.is_list = true;
        if (!parse_ply_type(count_type, &prop.count_type) || !is_integer(prop.count_type))
          fail_input(path, where, "bad list count type '{}'", count_type);
      }
      if (!parse_ply_type(type, &prop.type)) fail_input(path, where, "unknown property type '{}'", type);
      if (!(words >> prop.name)) fail_input(path, where, "property without a name");
      elements.back().properties.push_back(prop);
    } else {
      fail_input(path, where, "unexpected '{}'", word);
    }
  }
  if (!have_format) fail_input(path, "header", "no 'format' line");

  TriangleMesh mesh;
  PlyBody reader(bytes, body, encoding, path);
  bool have_vertices = false;
  for (const PlyElement& element : elements) {
    // Every instance takes at least one byte: a count beyond the file's size is a corrupt header.
    if (static_cast<uint64_t>(element.count) > reader.remaining())
      fail_input(path, "element " + element.name, "{} entries cannot fit in the file", element.count);
    const bool is_vertex = element.name == "vertex", is_face = element.name == "face";
    int xyz[3] = {-1, -1, -1}, rgb[3] = {-1, -1, -1}, indices = -1;
    static const char* const kColorNames[3] = {"red", "green", "blue"};
    for (size_t p = 0; p < element.properties.size(); ++p) {
      const std::string& n = element.properties[p].name;
      const bool list = element.properties[p].is_list;
      for (int a = 0; a < 3; ++a) {
        if (!list && n == std::string(1, "xyz"[a])) xyz[a] = static_cast<int>(p);
        if (!list && n == kColorNames[a]) rgb[a] = static_cast<int>(p);
      }
      if (list && (n == "vertex_indices" || n == "vertex_index")) indices = static_cast<int>(p);
    }
    if (is_vertex) {
      if (xyz[0] < 0 || xyz[1] < 0 || xyz[2] < 0) fail_input(path, "element vertex", "needs properties x, y and z");
      have_vertices = true;
    }
    if (is_face && indices < 0) fail_input(path, "element face", "needs a list property vertex_indices");
    const bool colors = is_vertex && rgb[0] >= 0 && rgb[1] >= 0 && rgb[2] >= 0;
    std::vector<double> values(element.properties.size());
    std::vector<int> polygon;
    for (int64_t i = 0; i < element.count; ++i) {
      const std::string where = fmt::format("{} {}", element.name, i);
      for (size_t p = 0; p < element.properties.size(); ++p) {
        const PlyProperty& prop = element.properties[p];
        if (!prop.is_list) {
          values[p] = reader.read(prop.type, where);
          continue;
        }
        const double count = reader.read(prop.count_type, where);
        if (!(count >= 0 && count <= 1 << 20)) fail_input(path, where, "bad list length {}", count);
        polygon.clear();
        for (int k = 0; k < static_cast<int>(count); ++k) polygon.push_back(static_cast<int>(reader.read(prop.type, where)));
        if (is_face && static_cast<int>(p) == indices) {
          if (polygon.size() < 3) fail_input(path, where, "a face needs at least 3 vertices, got {}", polygon.size());
          for (size_t k = 1; k + 1 < polygon.size(); ++k) mesh.faces.emplace_back(polygon[0], polygon[k], polygon[k + 1]);
        }
      }
      if (is_vertex) {
        mesh.vertices.emplace_back(static_cast<float>(values[static_cast<size_t>(xyz[0])]),
                                   static_cast<float>(values[static_cast<size_t>(xyz[1])]),
                                   static_cast<float>(values[static_cast<size_t>(xyz[2])]));
        if (colors) {
          Eigen::Vector3f c;
          for (int a = 0; a < 3; ++a) {
            const PlyProperty& prop = element.properties[static_cast<size_t>(rgb[a])];
            const double scale = is_integer(prop.type) ? 1.0 / 255.0 : 1.0;
            c[a] = static_cast<float>(values[static_cast<size_t>(rgb[a])] * scale);
          }
          mesh.colors.push_back(c);
        }
      }
    }
  }
  if (!have_vertices) fail_input(path, "header", "no 'vertex' element");
  mesh.validate(path.string());
  return mesh;
}

}  // namespace semfield
