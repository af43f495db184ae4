// Vertex labels from a semantic source.
#include "semfield/mesh/vertex_labels.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/pipeline/feature_renderer.h"

namespace semfield {

at::Tensor label_vertices(const SemanticSource& source, const TriangleMesh& mesh) {
  if (!source.has_classes()) fail_usage("vertex labels need a semantic source with classes (a label field or gnesf)");
  const int64_t n = mesh.n_vertices();
  if (n == 0) return at::zeros({0}, at::kLong);
  at::Tensor points = at::empty({n, 3});
  float* p = points.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) p[i * 3 + c] = mesh.vertices[static_cast<size_t>(i)][c];
  return source.point_outputs(points).front().argmax(1);
}

void color_vertices_by_label(TriangleMesh& mesh, const at::Tensor& labels) {
  if (labels.numel() != mesh.n_vertices()) fail_usage("vertex labels: {} labels for {} vertices", labels.numel(), mesh.n_vertices());
  const at::Tensor ids = labels.to(at::kLong).contiguous();
  const int64_t* id = ids.data_ptr<int64_t>();
  mesh.colors.resize(mesh.vertices.size());
  for (size_t i = 0; i < mesh.vertices.size(); ++i) mesh.colors[i] = label_color(id[i]);
}

}  // namespace semfield
