// Mesh-guided preview rendering of a (small, untrained) radiance model: depth from the mesh, colours the
// field's composite around each pixel's surface point, background elsewhere.
#include "semfield/models/radiance_model.h"
#include "semfield/mesh/mesh_preview.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/core/error.h"
#include "semfield/mesh/mesh_raster.h"
#include "support/small_models.h"

namespace semfield {
namespace {

class MeshPreviewTest : public ::testing::Test {
 protected:
  MeshPreviewTest() {
    model = std::make_unique<RadianceModel>(test::small_radiance_config(), SceneFrame{});
    // The untrained density varies smoothly around its median: that level set is a surface to mesh.
    const at::Tensor samples = at::rand({4096, 3}) * 2.0f - 1.0f;
    options.threshold = model->density(samples).median().item<double>();
    options.resolution = 32;
    options.coarse_resolution = 0;  // one mesh unless a test asks for the lighter one
  }
  std::unique_ptr<RadianceModel> model;
  MeshPreviewOptions options;
  const Eigen::Vector3f background{0.1f, 0.2f, 0.9f};
  const Camera camera = test::look_at({0.3, -4, 1.5}, {0, 0, 0}, 40, 45);
};

// The field's colour for one pixel, composited by hand over the preview's sample offsets (in double).
Eigen::Vector3d reference_color(const RadianceModel& model, const Eigen::Vector3d& origin, const Eigen::Vector3d& dir,
                                double t, const MeshPreviewOptions& options, double spacing) {
  const int k = options.samples;
  const double dt = k == 1 ? 1.0 : (options.behind + options.beyond) * spacing / (k - 1);
  Eigen::Vector3d sum = Eigen::Vector3d::Zero(), mean = Eigen::Vector3d::Zero();
  double transmittance = 1, total = 0;
  for (int i = 0; i < k; ++i) {
    const double ti = k == 1 ? t : t - options.behind * spacing + i * dt;
    const Eigen::Vector3d p = origin + ti * dir;
    const at::Tensor xyz = model.to_unit_cube(at::tensor({p.x(), p.y(), p.z()}, at::kFloat).view({1, 3}));
    const at::Tensor d = at::tensor({dir.x(), dir.y(), dir.z()}, at::kFloat).view({1, 3});
    const RadianceField::Output out = model.field().forward(xyz, d);
    const Eigen::Vector3d rgb(out.rgb[0][0].item<double>(), out.rgb[0][1].item<double>(), out.rgb[0][2].item<double>());
    if (k == 1) return rgb;
    const double alpha = 1 - std::exp(-out.density[0].item<double>() * dt);
    sum += transmittance * alpha * rgb;
    total += transmittance * alpha;
    transmittance *= 1 - alpha;
    mean += rgb / k;
  }
  return total > 1e-3 ? Eigen::Vector3d(sum / total) : mean;
}

void expect_matches_reference(const RadianceModel& model, const MeshPreview& preview, const Camera& camera,
                              const Eigen::Vector3f& background, const MeshPreviewOptions& options, int samples = 0) {
  const RenderedView view = preview.render(camera, background, samples);
  const Image depth = rasterize_depth(preview.mesh(), camera);
  ASSERT_EQ(view.depth.pixels, depth.pixels);  // the mesh's own depth
  int hits = 0, misses = 0, checked = 0;
  for (int y = 0; y < depth.height; ++y)
    for (int x = 0; x < depth.width; ++x) {
      const bool hit = depth.at(x, y) > 0;
      ASSERT_EQ(view.opacity.at(x, y), hit ? 1.0f : 0.0f);
      if (!hit) {
        ++misses;
        for (int c = 0; c < 3; ++c) ASSERT_EQ(view.rgb.at(x, y, c), background[c]);
        continue;
      }
      ++hits;
      if ((x + 3 * y) % 7 != 0) continue;  // a sample of the hit pixels against the slow reference
      const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
      const double t = depth.at(x, y) / ray.direction.dot(camera.forward());
      const Eigen::Vector3d expected = reference_color(model, ray.origin, ray.direction, t, options, preview.spacing());
      for (int c = 0; c < 3; ++c) ASSERT_NEAR(view.rgb.at(x, y, c), std::clamp(expected[c], 0.0, 1.0), 2e-4) << x << "," << y;
      ++checked;
    }
  EXPECT_GT(hits, 100);
  EXPECT_GT(checked, 10);
  EXPECT_GT(misses, 0);
  EXPECT_EQ(view.n_samples, static_cast<int64_t>(hits) * options.samples);
}

TEST_F(MeshPreviewTest, SurfaceSamplesCompositedAroundTheMeshDepth) {
  const MeshPreview preview(*model, options);
  ASSERT_GT(preview.mesh().n_faces(), 100);
  EXPECT_NEAR(preview.spacing(), 2.0f / 31, 1e-5f);  // the region [-1,1]^3 over 32 samples
  expect_matches_reference(*model, preview, camera, background, options);
}

TEST_F(MeshPreviewTest, OneSampleIsTheFieldAtTheSurfacePoint) {
  options.samples = 1;
  const MeshPreview preview(*model, options);
  expect_matches_reference(*model, preview, camera, background, options);
}

TEST_F(MeshPreviewTest, CoarseFramesUseTheLighterMesh) {
  options.coarse_resolution = 16;
  const MeshPreview preview(*model, options);
  ASSERT_GT(preview.coarse_mesh().n_faces(), 10);
  EXPECT_LT(preview.coarse_mesh().n_faces(), preview.mesh().n_faces() / 2);
  const RenderedView view = preview.render(camera, background, 0, /*coarse=*/true);
  EXPECT_EQ(view.depth.pixels, rasterize_depth(preview.coarse_mesh(), camera).pixels);
  EXPECT_NE(view.depth.pixels, rasterize_depth(preview.mesh(), camera).pixels);
  // Without a lighter mesh, coarse frames are the full ones.
  options.coarse_resolution = 0;
  const MeshPreview single(*model, options);
  EXPECT_TRUE(single.coarse_mesh().faces.empty());
  EXPECT_EQ(single.render(camera, background, 0, true).rgb.pixels, single.render(camera, background).rgb.pixels);
}

TEST_F(MeshPreviewTest, SamplesChosenPerFrame) {
  const MeshPreview preview(*model, options);  // 4 samples by default
  MeshPreviewOptions two = options;
  two.samples = 2;
  expect_matches_reference(*model, preview, camera, background, two, 2);
  EXPECT_THROW(preview.render(camera, background, -1), UsageError);
}

TEST_F(MeshPreviewTest, AnEmptyMeshShowsTheBackground) {
  options.threshold = 1e30;
  const MeshPreview preview(*model, options);
  EXPECT_EQ(preview.mesh().n_faces(), 0);
  const RenderedView view = preview.render(camera, background);
  for (int y = 0; y < view.rgb.height; ++y)
    for (int x = 0; x < view.rgb.width; ++x) {
      EXPECT_EQ(view.opacity.at(x, y), 0.0f);
      EXPECT_EQ(view.rgb.at(x, y, 2), background[2]);
    }
}

TEST_F(MeshPreviewTest, BadOptionsAreUsageErrors) {
  options.samples = 0;
  EXPECT_THROW(MeshPreview(*model, options), UsageError);
  options.samples = 2;
  options.behind = -1;
  EXPECT_THROW(MeshPreview(*model, options), UsageError);
  options.behind = 1;
  options.threshold = -3;
  EXPECT_THROW(MeshPreview(*model, options), UsageError);
}

}  // namespace
}  // namespace semfield
