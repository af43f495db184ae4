// Z-buffer rasterisation, visibility, mask voting and mask loading on synthetic cameras and meshes.
#include "semfield/mesh/mask_projection.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/core/error.h"
#include "semfield/core/parallel.h"
#include "semfield/mesh/mesh_raster.h"
#include "support/test_support.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;

using test::look_at;

TEST(MeshRaster, SquareFacingTheCamera) {
  TriangleMesh square;
  square.vertices = {{-1, -1, 0}, {1, -1, 0}, {1, 1, 0}, {-1, 1, 0}};
  square.faces = {{0, 1, 2}, {0, 2, 3}};
  const Image depth = rasterize_depth(square, look_at({0, 0, 5}, {0, 0, 0}));
  // Half-width 1 at distance 5 with focal 60: 12 pixels each side of the centre, 24 x 24 pixels.
  int covered = 0;
  for (float d : depth.pixels)
    if (d > 0) {
      ++covered;
      EXPECT_NEAR(d, 5.0f, 1e-4f);
    }
  EXPECT_EQ(covered, 24 * 24);
  EXPECT_EQ(depth.at(0, 0), 0.0f);
  // Behind the camera: nothing is drawn.
  EXPECT_EQ(rasterize_depth(square, look_at({0, 0, -5}, {0, 0, -10})).pixels, std::vector<float>(64 * 64, 0.0f));
}

TEST(MeshRaster, PerspectiveCorrectDepthOnATiltedPlane) {
  // A plane tilted away: z-depth at each pixel must match the ray/plane intersection.
  TriangleMesh plane;
  plane.vertices = {{-2, -2, -1}, {2, -2, 1}, {2, 2, 1}, {-2, 2, -1}};  // z = x / 2
  plane.faces = {{0, 1, 2}, {0, 2, 3}};
  const Camera camera = look_at({0, 0, 6}, {0, 0, 0});
  const Image depth = rasterize_depth(plane, camera);
  for (int y = 4; y < 60; y += 7)
    for (int x = 4; x < 60; x += 7) {
      if (depth.at(x, y) == 0) continue;
      const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
      // Solve o + t d on z = x / 2.
      const double t = (ray.origin.x() / 2 - ray.origin.z()) / (ray.direction.z() - ray.direction.x() / 2);
      const double z_depth = (t * ray.direction).dot(camera.forward());
      EXPECT_NEAR(depth.at(x, y), z_depth, 1e-4) << x << "," << y;
    }
}

TEST(MeshRaster, ThreadsAndBandsGiveTheSameDepth) {
  // A sphere on a plane seen at a size that is not a whole number of bands, the sphere's silhouette crossing
  // band borders: one thread and two give the same z-buffer, which matches the sphere's ray intersection.
  const TriangleMesh sphere = test::sphere_mesh({0, 0, 0.5f}, 0.5f, 40);
  const TriangleMesh mesh = test::merged(sphere, test::plane_mesh(1.5f, 24, 0.0f));
  Camera camera = look_at({3, -2, 2}, {0, 0, 0.4}, 100, 90);
  camera.intrinsics.height = 75;
  camera.intrinsics.cy = 37.5;
  const int threads = parallel_threads();
  set_parallel_threads(1);
  const Image serial = rasterize_depth(mesh, camera);
  set_parallel_threads(2);
  const Image parallel = rasterize_depth(mesh, camera);
  set_parallel_threads(threads);
  EXPECT_EQ(serial.pixels, parallel.pixels);
  int on_sphere = 0;
  for (int y = 0; y < 75; ++y)
    for (int x = 0; x < 100; ++x) {
      const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
      const Eigen::Vector3d oc = ray.origin - Eigen::Vector3d(0, 0, 0.5);
      const double b = oc.dot(ray.direction), disc = b * b - (oc.squaredNorm() - 0.25);
      if (disc < 0.01) continue;  // misses, or grazes the silhouette where the tessellation differs
      const double z_depth = (-b - std::sqrt(disc)) * ray.direction.dot(camera.forward());
      EXPECT_NEAR(serial.at(x, y), z_depth, 0.01) << x << "," << y;
      ++on_sphere;
    }
  EXPECT_GT(on_sphere, 300);  // 406 of the 7500 pixels
}

// A sphere (the object) standing on a plane (the ground), seen by a ring of cameras.
struct TableScene {
  TriangleMesh object = test::sphere_mesh({0, 0, 0.5f}, 0.5f, 20);
  TriangleMesh ground = test::plane_mesh(1.5f, 24, 0.0f);
  TriangleMesh all = test::merged(object, ground);
  std::vector<MaskView> views;

  TableScene() {
    for (int i = 0; i < 8; ++i) {
      const double a = 2 * M_PI * i / 8;
      const Camera camera = look_at({4 * std::cos(a), 4 * std::sin(a), 2.5}, {0, 0, 0.3});
      // The ground-truth mask: pixels where the object is the nearest surface.
      const Image full = rasterize_depth(all, camera), obj = rasterize_depth(object, camera);
      Image mask(64, 64, 1);
      for (size_t p = 0; p < mask.pixels.size(); ++p)
        mask.pixels[p] = obj.pixels[p] > 0 && std::fabs(obj.pixels[p] - full.pixels[p]) < 1e-5f ? 1.0f : 0.0f;
      views.push_back({"v" + std::to_string(i), camera, mask});
    }
  }
};

// The face of `mesh` whose centroid is nearest to p.
int64_t nearest_face(const TriangleMesh& mesh, const Eigen::Vector3f& p) {
  int64_t best = 0;
  for (int64_t f = 1; f < mesh.n_faces(); ++f)
    if ((face_centroid(mesh, f) - p).norm() < (face_centroid(mesh, best) - p).norm()) best = f;
  return best;
}

TEST(MaskProjection, OccludedAndBackFacesAreNotVisible) {
  TableScene scene;
  const int64_t n_object = scene.object.n_faces();
  // One camera on the +x side (view 0).
  const FaceVotes one = vote_faces(scene.all, {scene.views[0]}, 0.02f);
  // (views that see the face, share of the evidence inside the mask)
  auto votes_at = [&](const FaceVotes& votes, int64_t face) {
    const auto f = static_cast<size_t>(face);
    return std::make_pair(votes.views[f], votes.views[f] ? votes.positive[f] / votes.weight[f] : -1.0f);
  };
  using Pair = std::pair<int32_t, float>;
  // Sphere: the side facing the camera is seen inside the mask; the far side is a back face.
  EXPECT_EQ(votes_at(one, nearest_face(scene.object, {0.5f, 0, 0.5f})), Pair(1, 1.0f));
  EXPECT_EQ(votes_at(one, nearest_face(scene.object, {-0.5f, 0, 0.5f})), Pair(0, -1.0f));
  // Ground: in front of the sphere it is seen outside the mask; just behind it, it is hidden.
  EXPECT_EQ(votes_at(one, n_object + nearest_face(scene.ground, {1.0f, 0, 0})), Pair(1, 0.0f));
  EXPECT_EQ(votes_at(one, n_object + nearest_face(scene.ground, {-0.6f, 0, 0})), Pair(0, -1.0f));
  // All eight cameras look down on the sphere's top and see it in their masks (near the silhouette's
  // upper edge: the share is above one half, not 1).
  const FaceVotes all = vote_faces(scene.all, scene.views, 0.02f);
  const Pair top = votes_at(all, nearest_face(scene.object, {0, 0, 1}));
  EXPECT_EQ(top.first, 8);
  EXPECT_GT(top.second, 0.7f);
  // Over all views, the sphere's evidence is inside the mask except at the silhouette, where a face's
  // centroid may fall between pixels of the sphere and of the ground (and counts little: it is seen at a
  // grazing angle).
  double weight = 0, positive = 0;
  for (int64_t f = 0; f < n_object; ++f) {
    weight += all.weight[static_cast<size_t>(f)];
    positive += all.positive[static_cast<size_t>(f)];
  }
  EXPECT_GT(positive, 0.9 * weight);
}

TEST(MaskProjection, VoteSelectsTheMaskedObject) {
  TableScene scene;
  MaskSelectionOptions options;
  options.depth_tolerance = 0.02f;
  const std::vector<uint8_t> selected = select_faces_from_masks(scene.all, scene.views, options);
  const int64_t n_object = scene.object.n_faces();
  int64_t object_selected = 0, ground_selected = 0;
  for (size_t f = 0; f < selected.size(); ++f) (static_cast<int64_t>(f) < n_object ? object_selected : ground_selected) += selected[f];
  // The hidden underside of the sphere takes its label from the seen sphere faces next to it.
  EXPECT_EQ(object_selected, n_object);
  EXPECT_EQ(ground_selected, 0);
  // Empty masks select nothing.
  for (auto& v : scene.views) std::fill(v.mask.pixels.begin(), v.mask.pixels.end(), 0.0f);
  const std::vector<uint8_t> none = select_faces_from_masks(scene.all, scene.views, options);
  EXPECT_EQ(std::count(none.begin(), none.end(), 1), 0);
}

TEST(MaskProjection, MasksAtAnotherResolutionUseResampledCameras) {
  TableScene scene;
  // Half-resolution masks (nearest downscale) select the same object.
  for (auto& v : scene.views) v.mask = downscale_nearest(v.mask, 2);
  MaskSelectionOptions options;
  options.depth_tolerance = 0.02f;
  const std::vector<uint8_t> selected = select_faces_from_masks(scene.all, scene.views, options);
  int64_t object_selected = 0, ground_selected = 0;
  for (size_t f = 0; f < selected.size(); ++f)
    (static_cast<int64_t>(f) < scene.object.n_faces() ? object_selected : ground_selected) += selected[f];
  EXPECT_GE(object_selected, scene.object.n_faces() * 95 / 100);
  EXPECT_EQ(ground_selected, 0);
}

TEST(MaskProjection, LoadMaskViewsMatchesFilesToViews) {
  test::TempDir dir;
  const Camera camera = look_at({0, 0, 5}, {0, 0, 0});
  const std::vector<std::pair<std::string, Camera>> cameras = {{"r_0", camera}, {"r_1", camera}};
  EXPECT_THAT([&] { load_mask_views(dir / "none", cameras); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("mask folder not found")));
  EXPECT_THAT([&] { load_mask_views(dir.path(), cameras); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("no mask named after a view of the run")));
  write_png(dir / "r_1.png", Image(32, 32, 1, 1.0f));
  write_png(dir / "other.png", Image(32, 32, 1, 1.0f));  // skipped with a warning
  const std::vector<MaskView> views = load_mask_views(dir.path(), cameras);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].name, "r_1");
  EXPECT_EQ(views[0].mask.width, 32);
  write_png(dir / "r_0.png", Image(32, 16, 1, 1.0f));
  EXPECT_THAT([&] { load_mask_views(dir.path(), cameras); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("r_0.png: mask is 32x16 but view 'r_0' is 64x64")));
}

}  // namespace
}  // namespace semfield
