// Mesh file format dispatch by extension.
#include "semfield/mesh/mesh_io.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "semfield/core/error.h"

namespace semfield {

MeshFormat mesh_format_from_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".ply") return MeshFormat::Ply;
  if (ext == ".obj") return MeshFormat::Obj;
  if (ext == ".glb") return MeshFormat::Glb;
  fail_usage("{}: unknown mesh format '{}' (use .ply, .obj or .glb)", path.string(), ext);
}

void write_mesh(const std::filesystem::path& path, const TriangleMesh& mesh) {
  const MeshFormat format = mesh_format_from_path(path);
  if (mesh.faces.empty()) fail_usage("{}: the mesh has no faces; nothing to write", path.string());
  switch (format) {
    case MeshFormat::Ply: return write_ply(path, mesh);
    case MeshFormat::Obj: return write_obj(path, mesh);
    case MeshFormat::Glb: return write_glb(path, mesh);
  }
}

TriangleMesh read_mesh(const std::filesystem::path& path) {
  switch (mesh_format_from_path(path)) {
    case MeshFormat::Ply: return read_ply(path);
    case MeshFormat::Obj: return read_obj(path);
    case MeshFormat::Glb: return read_glb(path);
  }
  throw std::logic_error("unhandled mesh format");
}

}  // namespace semfield
