// Triangle mesh measures, sub-meshes and frame changes.
#include "semfield/mesh/triangle_mesh.h"

#include <cmath>

#include "semfield/core/error.h"

namespace semfield {

void TriangleMesh::validate(const std::string& origin) const {
  if (!colors.empty() && colors.size() != vertices.size())
    fail_input(origin, "", "{} vertex colours for {} vertices", colors.size(), vertices.size());
  for (size_t v = 0; v < vertices.size(); ++v)
    if (!vertices[v].allFinite()) fail_input(origin, "", "vertex {} is not finite", v);
  const int n = static_cast<int>(vertices.size());
  for (size_t f = 0; f < faces.size(); ++f)
    for (int k = 0; k < 3; ++k)
      if (faces[f][k] < 0 || faces[f][k] >= n)
        fail_input(origin, "", "face {} uses vertex {}, but there are {} vertices", f, faces[f][k], n);
}

Eigen::AlignedBox3f mesh_bounds(const TriangleMesh& mesh) {
  Eigen::AlignedBox3f box;
  for (const auto& f : mesh.faces)
    for (int k = 0; k < 3; ++k) box.extend(mesh.vertices[static_cast<size_t>(f[k])]);
  return box;
}

Eigen::Vector3f face_centroid(const TriangleMesh& mesh, int64_t face) {
  const Eigen::Vector3i& f = mesh.faces[static_cast<size_t>(face)];
  return (mesh.vertices[static_cast<size_t>(f[0])] + mesh.vertices[static_cast<size_t>(f[1])] +
          mesh.vertices[static_cast<size_t>(f[2])]) /
         3.0f;
}

Eigen::Vector3f face_normal(const TriangleMesh& mesh, int64_t face) {
  const Eigen::Vector3i& f = mesh.faces[static_cast<size_t>(face)];
  const Eigen::Vector3f& a = mesh.vertices[static_cast<size_t>(f[0])];
  return (mesh.vertices[static_cast<size_t>(f[1])] - a).cross(mesh.vertices[static_cast<size_t>(f[2])] - a);
}

double mesh_area(const TriangleMesh& mesh) {
  double area = 0;
  for (int64_t f = 0; f < mesh.n_faces(); ++f) area += 0.5 * face_normal(mesh, f).cast<double>().norm();
  return area;
}

double mesh_volume(const TriangleMesh& mesh) {
  double volume = 0;
  for (const auto& f : mesh.faces) {
    const Eigen::Vector3d a = mesh.vertices[static_cast<size_t>(f[0])].cast<double>();
    const Eigen::Vector3d b = mesh.vertices[static_cast<size_t>(f[1])].cast<double>();
    const Eigen::Vector3d c = mesh.vertices[static_cast<size_t>(f[2])].cast<double>();
    volume += a.dot(b.cross(c)) / 6.0;
  }
  return volume;
}

std::vector<Eigen::Vector3f> vertex_normals(const TriangleMesh& mesh) {
  std::vector<Eigen::Vector3f> normals(mesh.vertices.size(), Eigen::Vector3f::Zero());
  for (int64_t f = 0; f < mesh.n_faces(); ++f) {
    // The cross product's length is twice the area, so summing it weights each face by its area.
    const Eigen::Vector3f n = face_normal(mesh, f);
    for (int k = 0; k < 3; ++k) normals[static_cast<size_t>(mesh.faces[static_cast<size_t>(f)][k])] += n;
  }
  for (auto& n : normals) {
    const float len = n.norm();
    n = len > 0 ? Eigen::Vector3f(n / len) : Eigen::Vector3f::Zero();
  }
  return normals;
}

TriangleMesh submesh(const TriangleMesh& mesh, const std::vector<uint8_t>& keep) {
  SEMFIELD_ASSERT(keep.size() == mesh.faces.size(), "one keep flag per face");
  std::vector<int> remap(mesh.vertices.size(), -1);
  for (size_t f = 0; f < mesh.faces.size(); ++f)
    if (keep[f])
      for (int k = 0; k < 3; ++k) remap[static_cast<size_t>(mesh.faces[f][k])] = 0;
  TriangleMesh out;
  for (size_t v = 0; v < remap.size(); ++v) {
    if (remap[v] < 0) continue;
    remap[v] = static_cast<int>(out.vertices.size());
    out.vertices.push_back(mesh.vertices[v]);
    if (mesh.has_colors()) out.colors.push_back(mesh.colors[v]);
  }
  for (size_t f = 0; f < mesh.faces.size(); ++f) {
    if (!keep[f]) continue;
    const Eigen::Vector3i& face = mesh.faces[f];
    out.faces.emplace_back(remap[static_cast<size_t>(face[0])], remap[static_cast<size_t>(face[1])],
                           remap[static_cast<size_t>(face[2])]);
  }
  return out;
}

TriangleMesh to_original_frame(TriangleMesh mesh, const Normalization& normalization) {
  for (auto& v : mesh.vertices) v = normalization.invert(v.cast<double>()).cast<float>();
  return mesh;
}

}  // namespace semfield
