// Wavefront OBJ mesh files with per-vertex colours as "v x y z r g b" (the extension MeshLab, Open3D and
// Blender read).
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/mesh/mesh_io.h"

namespace semfield {

void write_obj(const std::filesystem::path& path, const TriangleMesh& mesh) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "# semfield mesh: {} vertices, {} faces\n", mesh.vertices.size(),
                 mesh.faces.size());
  // fmt's shortest round-trip float formatting: the file reads back to the same floats.
  for (size_t v = 0; v < mesh.vertices.size(); ++v) {
    const Eigen::Vector3f& p = mesh.vertices[v];
    if (mesh.has_colors())
      fmt::format_to(std::back_inserter(out), "v {} {} {} {:.4f} {:.4f} {:.4f}\n", p.x(), p.y(), p.z(),
                     mesh.colors[v].x(), mesh.colors[v].y(), mesh.colors[v].z());
    else
      fmt::format_to(std::back_inserter(out), "v {} {} {}\n", p.x(), p.y(), p.z());
  }
  for (const auto& f : mesh.faces) fmt::format_to(std::back_inserter(out), "f {} {} {}\n", f[0] + 1, f[1] + 1, f[2] + 1);
  write_file_atomic(path, out.data(), out.size());
}

TriangleMesh read_obj(const std::filesystem::path& path) {
  std::istringstream in(read_file_text(path));
  TriangleMesh mesh;
  std::vector<Eigen::Vector3f> colors;
  bool all_colored = true;
  std::string line;
  int64_t line_no = 0;
  std::vector<int> polygon;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream words(line);
    std::string keyword;
    if (!(words >> keyword) || keyword[0] == '#') continue;
    const std::string where = fmt::format("line {}", line_no);
    if (keyword == "v") {
      std::vector<double> numbers;
      std::string token;
      while (words >> token) {
        char* end = nullptr;
        const double value = std::strtod(token.c_str(), &end);
        if (end != token.c_str() + token.size() || !std::isfinite(value))
          fail_input(path, where, "'{}' is not a finite number", token);
        numbers.push_back(value);
      }
      if (numbers.size() < 3 || numbers.size() > 7 || numbers.size() == 5)
        fail_input(path, where, "a vertex needs 3 coordinates (optionally w, or r g b), got {} numbers", numbers.size());
      mesh.vertices.emplace_back(static_cast<float>(numbers[0]), static_cast<float>(numbers[1]),
                                 static_cast<float>(numbers[2]));
      if (numbers.size() >= 6) {
        const size_t c = numbers.size() - 3;  // "x y z r g b" or "x y z w r g b"
        colors.emplace_back(static_cast<float>(numbers[c]), static_cast<float>(numbers[c + 1]),
                            static_cast<float>(numbers[c + 2]));
      } else {
        all_colored = false;
      }
    } else if (keyword == "f") {
      polygon.clear();
      std::string ref;
      while (words >> ref) {
        // The vertex index is the part before the first '/'.
        const std::string index_text = ref.substr(0, ref.find('/'));
        char* end = nullptr;
        const long index = std::strtol(index_text.c_str(), &end, 10);
        if (index_text.empty() || end != index_text.c_str() + index_text.size() || index == 0)
          fail_input(path, where, "bad vertex reference '{}'", ref);
        const long resolved = index > 0 ? index - 1 : static_cast<long>(mesh.vertices.size()) + index;
        if (resolved < 0 || resolved >= static_cast<long>(mesh.vertices.size()))
          fail_input(path, where, "vertex {} does not exist ({} vertices so far)", index, mesh.vertices.size());
        polygon.push_back(static_cast<int>(resolved));
      }
      if (polygon.size() < 3) fail_input(path, where, "a face needs at least 3 vertices, got {}", polygon.size());
      for (size_t k = 1; k + 1 < polygon.size(); ++k) mesh.faces.emplace_back(polygon[0], polygon[k], polygon[k + 1]);
    }
  }
  if (all_colored && !mesh.vertices.empty()) mesh.colors = std::move(colors);
  mesh.validate(path.string());
  return mesh;
}

}  // namespace semfield
