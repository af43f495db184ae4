// Semantic labels of mesh vertices: a labelled mesh export from any semantic source with classes (a GNeSF run, a
// distilled label field).
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/mesh/triangle_mesh.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

/// The class id of every vertex (normalised scene frame): the arg-max of the source's per-point outputs, int64
/// [n_vertices]. UsageError for a source without classes.
at::Tensor label_vertices(const SemanticSource& source, const TriangleMesh& mesh);

/// Sets mesh.colors to each vertex's label colour (pipeline/feature_renderer.h label_color: the colours of the
/// semantic PNGs).
void color_vertices_by_label(TriangleMesh& mesh, const at::Tensor& labels);

}  // namespace semfield
