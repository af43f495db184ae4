// Closing the open rims of a mesh cut from a larger surface: an object taken out of a scene mesh is open
// where it touched the ground (the cut) and wherever the face vote left a hole; capping every rim makes the
// exported object a closed solid (watertight), which printing, volume and inside/outside tests need.
#pragma once

#include <cstdint>

#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

struct HoleFillingStats {
  int64_t n_loops = 0;       ///< rims capped
  int64_t n_faces_added = 0;
  int64_t n_open_chains = 0;  ///< rim chains that could not be closed (only with inconsistently oriented faces)
};

/// Caps every boundary loop (edges used by one face) with a fan of triangles around a new vertex at the
/// loop's centroid, oriented like the faces around it; a 3-edge loop gets a single triangle. A rim that
/// passes twice through a vertex is split there into simple loops, so every edge of the result has two faces
/// when the input's edges have at most two and its faces are consistently oriented. New vertices get the
/// mean colour of their loop when the mesh has colours. The fan suits the near-planar rims of cut objects
/// (ground contacts, small holes); it does not try to follow a strongly curved rim.
HoleFillingStats fill_holes(TriangleMesh& mesh);

}  // namespace semfield
