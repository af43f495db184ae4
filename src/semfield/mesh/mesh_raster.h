// A z-buffer rasteriser for triangle meshes: the depth each pixel of a camera sees, for visibility tests.
#pragma once

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"
#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

/// Z-depth (camera.h's convention, the mesh's units) of the nearest face at each pixel centre of `camera`
/// (H x W x 1 at the camera's intrinsics size), 0 where no face covers the centre. Vertices are projected
/// with the camera's distortion and each triangle is filled as a straight-edged triangle between the
/// projections, with 1/z interpolated linearly in the image (perspective-correct). Faces with a vertex at
/// or behind the camera plane are skipped. Both sides of a face are drawn (no back-face culling).
Image rasterize_depth(const TriangleMesh& mesh, const Camera& camera);

}  // namespace semfield
