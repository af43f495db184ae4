// Mesh connectivity: edge counts (watertightness), face adjacency across edges, connected components and
// the removal of small ones.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

/// Undirected edges by how many faces use them.
struct EdgeStats {
  int64_t n_edges = 0;
  int64_t n_boundary = 0;     ///< edges of exactly one face (a hole's or a cut's rim)
  int64_t n_nonmanifold = 0;  ///< edges of three or more faces
  int64_t n_boundary_loops = 0;  ///< closed chains the boundary edges form (a vertex where rims meet
                                 ///< joins them into one)
  /// Closed 2-manifold: every edge has exactly two faces.
  bool watertight() const { return n_boundary == 0 && n_nonmanifold == 0; }
};
EdgeStats edge_stats(const TriangleMesh& mesh);

/// Boundary-edge flags per face: bit k set when edge (face[k], face[(k+1)%3]) belongs to this face only.
std::vector<uint8_t> boundary_edge_flags(const TriangleMesh& mesh);

/// Faces sharing an edge, in compressed rows: the neighbours of face f are
/// neighbors[offsets[f] .. offsets[f+1]). At a non-manifold edge every pair of its faces is adjacent.
struct FaceAdjacency {
  std::vector<int64_t> offsets;  ///< n_faces + 1
  std::vector<int32_t> neighbors;
};
FaceAdjacency face_adjacency(const TriangleMesh& mesh);

/// Component id (0 .. n-1, numbered by first face) of every face, faces connected through shared edges.
/// Only faces with mask[f] != 0 take part (others get -1), unless mask is empty (all faces).
std::vector<int32_t> connected_components(const FaceAdjacency& adjacency, const std::vector<uint8_t>& mask,
                                          int32_t* n_components);

/// Drops the connected components with fewer faces than `min_fraction` times the largest component's
/// (NeRF floaters: specks of density away from the surfaces), then the unused vertices.
TriangleMesh remove_small_components(const TriangleMesh& mesh, double min_fraction);

}  // namespace semfield
