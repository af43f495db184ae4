// An indexed triangle mesh with optional per-vertex colours: the type extraction, mask projection and
// export share, plus its measures (bounds, area, volume) and frame changes.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "semfield/data/scene.h"

namespace semfield {

/// Faces are counter-clockwise seen from outside: the normal (b - a) x (c - a) points out of the solid
/// (for an extracted density surface, from high density towards low). Vertex indices are 0-based.
/// The frame is whatever the producer says (extraction works in the normalised scene frame; files are
/// written in the dataset's original frame, see to_original_frame).
struct TriangleMesh {
  std::vector<Eigen::Vector3f> vertices;
  std::vector<Eigen::Vector3f> colors;  ///< empty, or one sRGB colour in [0,1] per vertex
  std::vector<Eigen::Vector3i> faces;

  int64_t n_vertices() const { return static_cast<int64_t>(vertices.size()); }
  int64_t n_faces() const { return static_cast<int64_t>(faces.size()); }
  bool has_colors() const { return !colors.empty(); }
  /// Throws InputError(origin, "", ...) for a face index out of range, a colour count that is neither 0
  /// nor the vertex count, or a non-finite vertex (files are checked with this after loading).
  void validate(const std::string& origin) const;
};

/// Axis-aligned bounds of the vertices that faces use (empty box for a mesh without faces).
Eigen::AlignedBox3f mesh_bounds(const TriangleMesh& mesh);
/// Sum of triangle areas.
double mesh_area(const TriangleMesh& mesh);
/// Signed enclosed volume (divergence theorem: sum of a . (b x c) / 6); positive for a closed mesh with
/// outward faces, meaningless for an open one.
double mesh_volume(const TriangleMesh& mesh);

Eigen::Vector3f face_centroid(const TriangleMesh& mesh, int64_t face);
/// Unnormalised face normal (b - a) x (c - a): length = twice the area.
Eigen::Vector3f face_normal(const TriangleMesh& mesh, int64_t face);
/// Area-weighted unit vertex normals (zero for a vertex no face with area uses).
std::vector<Eigen::Vector3f> vertex_normals(const TriangleMesh& mesh);

/// The faces with keep[f] != 0 (keep has one entry per face) and only the vertices they use, renumbered in
/// their original order; colours follow their vertices.
TriangleMesh submesh(const TriangleMesh& mesh, const std::vector<uint8_t>& keep);

/// Maps the vertices from the normalised scene frame back to the dataset's original coordinates
/// (Normalization::invert). A uniform scale and translation keep faces and their orientation.
TriangleMesh to_original_frame(TriangleMesh mesh, const Normalization& normalization);

}  // namespace semfield
