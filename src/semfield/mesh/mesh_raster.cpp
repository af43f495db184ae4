// Scan-conversion of projected triangles into a z-buffer, in horizontal bands of rows on several threads.
#include "semfield/mesh/mesh_raster.h"

#include <algorithm>
#include <cmath>

#include "semfield/core/parallel.h"

namespace semfield {

Image rasterize_depth(const TriangleMesh& mesh, const Camera& camera) {
  const int W = camera.intrinsics.width, H = camera.intrinsics.height;
  Image depth(W, H, 1, 0.0f);
  // Projected vertices: (u, v, 1/z), with 1/z = 0 marking a vertex at or behind the camera. Stored as float
  // (half the memory traffic of the face loops below, which read them in mesh order); pinhole cameras
  // project with one matrix product instead of Camera::world_to_pixel's general path.
  const int64_t n_vertices = static_cast<int64_t>(mesh.vertices.size());
  std::vector<Eigen::Vector3f> projected(mesh.vertices.size());
  const Intrinsics& K = camera.intrinsics;
  const bool pinhole = K.model == CameraModel::Pinhole || K.distortion.is_zero();
  const Eigen::Matrix3d w2c = camera.c2w.block<3, 3>(0, 0).transpose();
  const Eigen::Vector3d origin = camera.origin();
  parallel_for(0, n_vertices, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Eigen::Vector3d world = mesh.vertices[static_cast<size_t>(i)].cast<double>();
      Eigen::Vector2d uv;
      double z = 0;
      bool front = false;
      if (pinhole) {
        const Eigen::Vector3d cam = w2c * (world - origin);
        z = -cam.z();
        front = z > 0;
        uv = Eigen::Vector2d(K.fx * cam.x() / z + K.cx, K.fy * -cam.y() / z + K.cy);
      } else {
        front = camera.world_to_pixel(world, &uv, &z);
      }
      projected[static_cast<size_t>(i)] =
          front && z > 1e-9 ? Eigen::Vector3f(static_cast<float>(uv.x()), static_cast<float>(uv.y()), static_cast<float>(1.0 / z))
                            : Eigen::Vector3f(0, 0, 0);
    }
  });

  // Faces binned by the bands of rows their pixel centres fall in (most faces are a few pixels and fall in
  // one), so that each band is filled by one thread without locks; a pixel's nearest depth does not depend
  // on the order faces are drawn in, so neither does the result. Binned in parallel, per chunk of faces.
  constexpr int kBandRows = 16;
  constexpr int64_t kChunkFaces = 1 << 16;
  const int n_bands = (H + kBandRows - 1) / kBandRows;
  const int64_t n_faces = static_cast<int64_t>(mesh.faces.size());
  const int64_t n_chunks = (n_faces + kChunkFaces - 1) / kChunkFaces;
  std::vector<std::vector<std::vector<int32_t>>> bins(static_cast<size_t>(n_chunks),
                                                      std::vector<std::vector<int32_t>>(static_cast<size_t>(n_bands)));
  parallel_for(0, n_chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      auto& bands = bins[static_cast<size_t>(chunk)];
      for (int64_t f = chunk * kChunkFaces; f < std::min(n_faces, (chunk + 1) * kChunkFaces); ++f) {
        const auto& face = mesh.faces[static_cast<size_t>(f)];
        const Eigen::Vector3d a = projected[static_cast<size_t>(face[0])].cast<double>();
        const Eigen::Vector3d b = projected[static_cast<size_t>(face[1])].cast<double>();
        const Eigen::Vector3d c = projected[static_cast<size_t>(face[2])].cast<double>();
        if (a.z() <= 0 || b.z() <= 0 || c.z() <= 0) continue;
        const double x_lo = std::min({a.x(), b.x(), c.x()}), x_hi = std::max({a.x(), b.x(), c.x()});
        if (!(x_hi >= 0.5 && x_lo <= W - 0.5)) continue;  // off screen (or not finite)
        const int y0 = std::max(0, static_cast<int>(std::ceil(std::min({a.y(), b.y(), c.y()}) - 0.5)));
        const int y1 = std::min(H - 1, static_cast<int>(std::floor(std::max({a.y(), b.y(), c.y()}) - 0.5)));
        for (int band = y0 / kBandRows; y0 <= y1 && band <= y1 / kBandRows; ++band)
          bands[static_cast<size_t>(band)].push_back(static_cast<int32_t>(f));
      }
    }
  });

  parallel_for(0, n_bands, 1, [&](int64_t band_begin, int64_t band_end) {
    for (int64_t band = band_begin; band < band_end; ++band) {
      const int row_lo = static_cast<int>(band) * kBandRows, row_hi = std::min(H - 1, row_lo + kBandRows - 1);
      for (const auto& chunk_bands : bins)
      for (const int32_t f : chunk_bands[static_cast<size_t>(band)]) {
        const auto& face = mesh.faces[static_cast<size_t>(f)];
        const Eigen::Vector3d a = projected[static_cast<size_t>(face[0])].cast<double>();
        const Eigen::Vector3d b = projected[static_cast<size_t>(face[1])].cast<double>();
        const Eigen::Vector3d c = projected[static_cast<size_t>(face[2])].cast<double>();
        const double area = (b.x() - a.x()) * (c.y() - a.y()) - (b.y() - a.y()) * (c.x() - a.x());
        if (!(std::fabs(area) > 1e-12)) continue;
        // Pixel centres (x + 0.5, y + 0.5) inside the triangle's bounding box and the band.
        const int x0 = std::max(0, static_cast<int>(std::ceil(std::min({a.x(), b.x(), c.x()}) - 0.5)));
        const int x1 = std::min(W - 1, static_cast<int>(std::floor(std::max({a.x(), b.x(), c.x()}) - 0.5)));
        const int y0 = std::max(row_lo, static_cast<int>(std::ceil(std::min({a.y(), b.y(), c.y()}) - 0.5)));
        const int y1 = std::min(row_hi, static_cast<int>(std::floor(std::max({a.y(), b.y(), c.y()}) - 0.5)));
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
    }
  });
  return depth;
}

}  // namespace semfield
