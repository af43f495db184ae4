// Isosurface extraction from a dense scalar grid (marching tetrahedra): the surface step of mesh extraction.
//
// Why hand-written rather than a library: Debian 12 has no light library that meshes a plain scalar grid —
// Open3D 0.16 only meshes TSDF volumes through its voxel-block grid and pulls in a large stack, VTK and PCL
// are larger still — and the few hundred lines here cost nothing to build. Marching *tetrahedra* on the
// Kuhn split of each cell (six tetrahedra around the cell's main diagonal) needs no case tables, and its
// surface is watertight and manifold by construction: every tetrahedron face is shared with exactly one
// neighbour that cuts it the same way, which is the property the object-mesh target asks for. The price is
// about twice the triangles of marching cubes at the same resolution.
#pragma once

#include "semfield/mesh/scalar_grid.h"
#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

/// The surface value == level of `grid`, "inside" being value > level (NaN counts as outside). Vertices
/// lie on grid edges (cell edges, face diagonals and the main diagonal), linearly interpolated, and are
/// shared by the faces that meet there; faces point from inside to outside. Every surface that stays
/// within the grid is closed (edge_stats().watertight()); one that reaches the grid's outer samples stays
/// open there (set the outer layer below `level` to close it). Output order is deterministic and does not
/// depend on the thread count. Runs on parallel_threads() threads; a grid with fewer than 2 samples along
/// an axis gives an empty mesh.
TriangleMesh extract_isosurface(const ScalarGrid& grid, float level);

}  // namespace semfield
