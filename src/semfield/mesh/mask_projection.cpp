// Mask loading, per-view visibility and voting, and the vote's face selection.
#include "semfield/mesh/mask_projection.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/parallel.h"
#include "semfield/mesh/mesh_raster.h"

namespace semfield {

namespace {

// The camera resampled to the mask's pixel grid.
Camera camera_for_mask(const Camera& camera, const Image& mask) {
  Camera out = camera;
  if (mask.width != camera.intrinsics.width || mask.height != camera.intrinsics.height)
    out.intrinsics = camera.intrinsics.resized(mask.width, mask.height);
  return out;
}

}  // namespace

std::vector<MaskView> load_mask_views(const std::filesystem::path& dir,
                                      const std::vector<std::pair<std::string, Camera>>& cameras) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_input(dir, "", "mask folder not found");
  std::map<std::string, const Camera*> by_name;
  for (const auto& [name, camera] : cameras) by_name.emplace(name, &camera);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<MaskView> views;
  for (const fs::path& file : files) {
    const auto it = by_name.find(file.stem().string());
    if (it == by_name.end()) {
      log::warn("{}: no view of the run is named '{}'; skipped", file.string(), file.stem().string());
      continue;
    }
    MaskView view{it->first, *it->second, read_image(file, ImageRange::Unit)};
    const Intrinsics& K = view.camera.intrinsics;
    const double view_aspect = static_cast<double>(K.width) / K.height;
    const double mask_aspect = static_cast<double>(view.mask.width) / view.mask.height;
    if (std::fabs(mask_aspect / view_aspect - 1.0) > 0.01)
      fail_input(file, "", "mask is {}x{} but view '{}' is {}x{}: the aspect ratios differ", view.mask.width,
                 view.mask.height, view.name, K.width, K.height);
    views.push_back(std::move(view));
  }
  if (views.empty())
    fail_input(dir, "", "no mask named after a view of the run (expected <view>.png, e.g. '{}.png'; found {} PNGs)",
               cameras.empty() ? std::string("r_0") : cameras.front().first, files.size());
  return views;
}

FaceVotes vote_faces(const TriangleMesh& mesh, const std::vector<MaskView>& views, float depth_tolerance) {
  const size_t n_faces = mesh.faces.size();
  FaceVotes votes{std::vector<int32_t>(n_faces, 0), std::vector<float>(n_faces, 0.0f), std::vector<float>(n_faces, 0.0f)};
  std::vector<Eigen::Vector3d> centroids(n_faces), normals(n_faces);
  for (size_t f = 0; f < n_faces; ++f) {
    centroids[f] = face_centroid(mesh, static_cast<int64_t>(f)).cast<double>();
    normals[f] = face_normal(mesh, static_cast<int64_t>(f)).cast<double>().normalized();
  }
  std::mutex merge;
  parallel_for(0, static_cast<int64_t>(views.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t v = begin; v < end; ++v) {
      const MaskView& view = views[static_cast<size_t>(v)];
      const Camera camera = camera_for_mask(view.camera, view.mask);
      const Image zbuffer = rasterize_depth(mesh, camera);
      const Eigen::Vector3d eye = camera.origin();
      const int W = camera.intrinsics.width, H = camera.intrinsics.height;
      // Per face: weight (0 = not visible) and mask value of this view.
      std::vector<float> weight(n_faces, 0.0f), value(n_faces, 0.0f);
      for (size_t f = 0; f < n_faces; ++f) {
        const double cosine = normals[f].dot((eye - centroids[f]).normalized());
        if (!(cosine >= kMinViewCosine)) continue;  // back face, grazing view (or degenerate face)
        Eigen::Vector2d uv;
        double z = 0;
        if (!camera.world_to_pixel(centroids[f], &uv, &z)) continue;
        if (!(uv.x() >= 0 && uv.y() >= 0 && uv.x() < W && uv.y() < H)) continue;
        const int px = static_cast<int>(uv.x()), py = static_cast<int>(uv.y());
        const float front = zbuffer.at(px, py);
        // The z-buffer holds the depth at the pixel's centre, the centroid lies anywhere in the pixel: on a
        // surface seen at a grazing angle the depth changes by about z / f per pixel times the slope, so
        // allow two pixels' worth. An empty z-buffer pixel: the face misses that pixel centre; nothing
        // hides it.
        const double tolerance = depth_tolerance + 2.0 * z / camera.intrinsics.fx;
        if (front > 0 && z > front + tolerance) continue;
        // Bilinear mask value between the four nearest pixel centres (clamped at the image border).
        const double x = uv.x() - 0.5, y = uv.y() - 0.5;
        const int x0 = static_cast<int>(std::floor(x)), y0 = static_cast<int>(std::floor(y));
        const double ax = x - x0, ay = y - y0;
        auto m = [&](int xi, int yi) {
          return static_cast<double>(view.mask.at(std::clamp(xi, 0, W - 1), std::clamp(yi, 0, H - 1), 0) >= 0.5f);
        };
        value[f] = static_cast<float>((1 - ay) * ((1 - ax) * m(x0, y0) + ax * m(x0 + 1, y0)) +
                                      ay * ((1 - ax) * m(x0, y0 + 1) + ax * m(x0 + 1, y0 + 1)));
        weight[f] = static_cast<float>(cosine);
      }
      std::lock_guard<std::mutex> lock(merge);
      for (size_t f = 0; f < n_faces; ++f) {
        if (weight[f] == 0.0f) continue;
        ++votes.views[f];
        votes.weight[f] += weight[f];
        votes.positive[f] += weight[f] * value[f];
      }
    }
  });
  return votes;
}

std::vector<uint8_t> select_faces_from_masks(const TriangleMesh& mesh, const std::vector<MaskView>& views,
                                             const MaskSelectionOptions& options) {
  const FaceVotes votes = vote_faces(mesh, views, options.depth_tolerance);
  std::vector<int8_t> labels(mesh.faces.size(), kUnknown);
  for (size_t f = 0; f < labels.size(); ++f)
    if (votes.views[f] > 0)
      labels[f] = votes.positive[f] >= options.min_positive_fraction * votes.weight[f] ? kSelected : kRejected;
  const FaceAdjacency adjacency = face_adjacency(mesh);
  return clean_selection(adjacency, propagate_face_labels(adjacency, labels, options.max_propagation_rings),
                         options.cleanup);
}

}  // namespace semfield
