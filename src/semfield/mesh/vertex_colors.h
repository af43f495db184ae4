// Vertex colours of an extracted mesh from the radiance field: the colour seen looking at each vertex along
// its normal.
#pragma once

#include "semfield/mesh/triangle_mesh.h"
#include "semfield/models/scene_model.h"

namespace semfield {

struct VertexColorOptions {
  /// Half-length of the probe ray, normalised scene units (> 0): it starts this far outside the vertex
  /// (along the normal) and ends as far inside. A couple of grid spacings covers the offset between the
  /// mesh's level set and where the field's colour actually sits.
  float probe_length = 0.01f;
  int n_samples = 8;               ///< samples along the probe, >= 1
  int64_t batch_vertices = 16384;  ///< vertices per field call
};

/// Sets mesh.colors: for each vertex p with unit normal n (vertex_normals), the colour volume-rendered along
/// the ray from p + L n to p - L n (direction -n, i.e. viewed from outside along the normal), normalised
/// by the ray's opacity so the background never leaks in. A vertex the probe finds empty (opacity < 1e-6)
/// or without a normal takes the field's colour at p viewed along -n (or -z). Vertices are in the
/// normalised scene frame.
void color_vertices(const SceneModel& model, TriangleMesh& mesh, const VertexColorOptions& options = {});

}  // namespace semfield
