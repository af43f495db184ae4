// Short volume-rendered probes along vertex normals give each mesh vertex its colour.
#include "semfield/mesh/vertex_colors.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

void color_vertices(const SceneModel& model, TriangleMesh& mesh, const VertexColorOptions& options) {
  if (!(options.probe_length > 0) || options.n_samples < 1)
    fail_usage("vertex colours: probe length must be > 0 and samples >= 1 (got {}, {})", options.probe_length,
               options.n_samples);
  const std::vector<Eigen::Vector3f> normals = vertex_normals(mesh);
  const int64_t n_vertices = mesh.n_vertices();
  const int S = options.n_samples;
  const float L = options.probe_length, dt = 2.0f * L / static_cast<float>(S);
  mesh.colors.assign(mesh.vertices.size(), Eigen::Vector3f::Zero());
  const int64_t batch = std::max<int64_t>(1, options.batch_vertices);
  for (int64_t begin = 0; begin < n_vertices; begin += batch) {
    const int64_t end = std::min(begin + batch, n_vertices), n = end - begin;
    // Sample s of vertex v at row v * S + s, front (outside) to back.
    at::Tensor xyz = at::empty({n * S, 3}, at::kFloat), dirs = at::empty({n * S, 3}, at::kFloat);
    float* px = xyz.data_ptr<float>();
    float* pd = dirs.data_ptr<float>();
    for (int64_t v = 0; v < n; ++v) {
      const Eigen::Vector3f& p = mesh.vertices[static_cast<size_t>(begin + v)];
      const Eigen::Vector3f& nrm = normals[static_cast<size_t>(begin + v)];
      const Eigen::Vector3f dir = nrm.isZero() ? Eigen::Vector3f(0, 0, -1) : Eigen::Vector3f(-nrm);
      for (int s = 0; s < S; ++s) {
        const float t = (static_cast<float>(s) + 0.5f) * dt;
        const Eigen::Vector3f x = nrm.isZero() ? p : Eigen::Vector3f(p + L * nrm + t * dir);
        const int64_t row = (v * S + s) * 3;
        for (int a = 0; a < 3; ++a) {
          px[row + a] = x[a];
          pd[row + a] = dir[a];
        }
      }
    }
    const PointRadiance out = model.radiance(xyz, dirs);
    const at::Tensor sigma = out.density.to(at::kFloat).contiguous(), rgb = out.rgb.to(at::kFloat).contiguous();
    const float* ps = sigma.data_ptr<float>();
    const float* pc = rgb.data_ptr<float>();
    for (int64_t v = 0; v < n; ++v) {
      Eigen::Vector3f color = Eigen::Vector3f::Zero();
      float transmittance = 1.0f, opacity = 0.0f;
      for (int s = 0; s < S; ++s) {
        const int64_t row = v * S + s;
        const float alpha = 1.0f - std::exp(-std::max(ps[row], 0.0f) * dt);
        const float w = transmittance * alpha;
        color += w * Eigen::Vector3f(pc[row * 3], pc[row * 3 + 1], pc[row * 3 + 2]);
        opacity += w;
        transmittance *= 1.0f - alpha;
      }
      if (opacity > 1e-6f) {
        color /= opacity;
      } else {
        const int64_t mid = v * S + S / 2;  // the sample nearest the vertex
        color = Eigen::Vector3f(pc[mid * 3], pc[mid * 3 + 1], pc[mid * 3 + 2]);
      }
      mesh.colors[static_cast<size_t>(begin + v)] = color.cwiseMax(0.0f).cwiseMin(1.0f);
    }
  }
}

}  // namespace semfield
