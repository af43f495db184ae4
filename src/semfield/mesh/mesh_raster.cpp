// Scan-conversion of projected triangles into a z-buffer.
#include "semfield/mesh/mesh_raster.h"

#include <algorithm>
#include <cmath>

namespace semfield {

Image rasterize_depth(const TriangleMesh& mesh, const Camera& camera) {
  const int W = camera.intrinsics.width, H = camera.intrinsics.height;
  Image depth(W, H, 1, 0.0f);
  // Projected vertices: (u, v, 1/z), with 1/z = 0 marking a vertex at or behind the camera.
  std::vector<Eigen::Vector3d> projected(mesh.vertices.size());
  for (size_t i = 0; i < mesh.vertices.size(); ++i) {
    Eigen::Vector2d uv;
    double z = 0;
    const bool front = camera.world_to_pixel(mesh.vertices[i].cast<double>(), &uv, &z);
    projected[i] = front && z > 1e-9 ? Eigen::Vector3d(uv.x(), uv.y(), 1.0 / z) : Eigen::Vector3d(0, 0, 0);
  }
  for (const auto& f : mesh.faces) {
    const Eigen::Vector3d& a = projected[static_cast<size_t>(f[0])];
    const Eigen::Vector3d& b = projected[static_cast<size_t>(f[1])];
    const Eigen::Vector3d& c = projected[static_cast<size_t>(f[2])];
    if (a.z() <= 0 || b.z() <= 0 || c.z() <= 0) continue;
    const double area = (b.x() - a.x()) * (c.y() - a.y()) - (b.y() - a.y()) * (c.x() - a.x());
    if (!(std::fabs(area) > 1e-12)) continue;
    // Pixel centres (x + 0.5, y + 0.5) inside the triangle's bounding box.
    const int x0 = std::max(0, static_cast<int>(std::ceil(std::min({a.x(), b.x(), c.x()}) - 0.5)));
    const int x1 = std::min(W - 1, static_cast<int>(std::floor(std::max({a.x(), b.x(), c.x()}) - 0.5)));
    const int y0 = std::max(0, static_cast<int>(std::ceil(std::min({a.y(), b.y(), c.y()}) - 0.5)));
    const int y1 = std::min(H - 1, static_cast<int>(std::floor(std::max({a.y(), b.y(), c.y()}) - 0.5)));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const double px = x + 0.5, py = y + 0.5;
        // Barycentric weights from signed sub-areas; all share the sign of `area` inside.
        const double wa = ((b.x() - px) * (c.y() - py) - (b.y() - py) * (c.x() - px)) / area;
        const double wb = ((c.x() - px) * (a.y() - py) - (c.y() - py) * (a.x() - px)) / area;
        const double wc = 1.0 - wa - wb;
        if (wa < 0 || wb < 0 || wc < 0) continue;
        const double inv_z = wa * a.z() + wb * b.z() + wc * c.z();
        const float z = static_cast<float>(1.0 / inv_z);
        float& d = depth.at(x, y);
        if (d == 0.0f || z < d) d = z;
      }
  }
  return depth;
}

}  // namespace semfield
