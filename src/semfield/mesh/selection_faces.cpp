// Faces covered by a 3D voxel selection.
#include "semfield/mesh/selection_faces.h"

#include <ATen/ATen.h>

#include "semfield/mesh/face_selection.h"
#include "semfield/mesh/mesh_topology.h"

namespace semfield {

std::vector<uint8_t> faces_in_selection(const TriangleMesh& mesh, const Selection& selection) {
  at::Tensor centroids = at::empty({mesh.n_faces(), 3}, at::kFloat);
  float* c = centroids.data_ptr<float>();
  for (int64_t f = 0; f < mesh.n_faces(); ++f) {
    const Eigen::Vector3f p = face_centroid(mesh, f);
    for (int a = 0; a < 3; ++a) c[f * 3 + a] = p[a];
  }
  const at::Tensor inside = selection.contains(centroids).to(at::kBool).contiguous();
  const bool* in = inside.data_ptr<bool>();
  std::vector<uint8_t> selected(mesh.faces.size());
  for (size_t f = 0; f < selected.size(); ++f) selected[f] = in[f];
  return clean_selection(face_adjacency(mesh), std::move(selected), SelectionCleanupOptions{});
}

}  // namespace semfield
