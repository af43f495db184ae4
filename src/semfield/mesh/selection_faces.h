// The faces of a mesh that a 3D voxel selection (segment/selection.h) covers, cleaned like mask-projected ones.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/mesh/triangle_mesh.h"
#include "semfield/segment/selection.h"

namespace semfield {

/// 0/1 per face: the face's centroid lies in a selected voxel (both in the normalised scene frame), then
/// clean_selection with its default options (specks dropped, pinholes and slits filled).
std::vector<uint8_t> faces_in_selection(const TriangleMesh& mesh, const Selection& selection);

}  // namespace semfield
