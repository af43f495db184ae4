// Density grids and vertex colours sampled from a (small, untrained) radiance model.
#include "semfield/models/radiance_model.h"
#include "semfield/mesh/density_grid.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "mesh_test_shapes.h"
#include "semfield/core/error.h"
#include "semfield/mesh/vertex_colors.h"
#include "support/small_models.h"

namespace semfield {
namespace {

class ModelTest : public ::testing::Test {
 protected:
  ModelTest() {
    SceneFrame frame;
    frame.aabb_min = Eigen::Vector3f(-1, -0.5f, -1);
    model = std::make_unique<RadianceModel>(test::small_radiance_config(), frame);
  }
  float density_at(const Eigen::Vector3f& p) const {
    return model->density(at::tensor({p.x(), p.y(), p.z()}).view({1, 3})).item<float>();
  }
  std::unique_ptr<RadianceModel> model;
};

TEST_F(ModelTest, GridCoversTheRegionAndHoldsTheDensity) {
  DensityGridOptions options;
  options.resolution = 9;
  options.occupied_only = false;
  const Eigen::AlignedBox3f region = mesh_region(model->frame());
  const ScalarGrid grid = sample_density_grid(*model, region, options);
  // Longest side 2 over 9 samples: spacing 0.25; the 1.5-long y side takes 7 samples.
  EXPECT_EQ(grid.nx, 9);
  EXPECT_EQ(grid.ny, 7);
  EXPECT_EQ(grid.nz, 9);
  EXPECT_FLOAT_EQ(grid.spacing.x(), 0.25f);
  EXPECT_TRUE(grid.point(0, 0, 0).isApprox(region.min()));
  EXPECT_TRUE(grid.point(8, 6, 8).isApprox(region.max()));
  int64_t positive = 0;
  for (int i = 0; i < grid.nx; ++i)
    for (int j = 0; j < grid.ny; ++j)
      for (int k = 0; k < grid.nz; ++k) {
        const bool border = i == 0 || j == 0 || k == 0 || i == grid.nx - 1 || j == grid.ny - 1 || k == grid.nz - 1;
        if (border) {
          ASSERT_EQ(grid.at(i, j, k), 0.0f);
        } else {
          ASSERT_NEAR(grid.at(i, j, k), density_at(grid.point(i, j, k)), 1e-5f * (1 + grid.at(i, j, k)));
          positive += grid.at(i, j, k) > 0;
        }
      }
  EXPECT_EQ(positive, 7 * 5 * 7);  // exp(.) of the untrained field is positive everywhere
}

TEST_F(ModelTest, OccupiedOnlySkipsEmptySpace) {
  DensityGridOptions options;
  options.resolution = 12;
  // A new model's occupancy grid marks every cell occupied: the grid is the full one.
  const ScalarGrid all = sample_density_grid(*model, mesh_region(model->frame()), options);
  options.occupied_only = false;
  EXPECT_EQ(all.values, sample_density_grid(*model, mesh_region(model->frame()), options).values);
  // After an update only some cells are: their samples hold the density, the others stay 0.
  options.occupied_only = true;
  model->update_occupancy(0);
  ASSERT_GT(model->occupancy_fraction(), 0.0);
  ASSERT_LT(model->occupancy_fraction(), 1.0);
  const ScalarGrid some = sample_density_grid(*model, mesh_region(model->frame()), options);
  int64_t evaluated = 0;
  for (int i = 1; i + 1 < some.nx; ++i)
    for (int j = 1; j + 1 < some.ny; ++j)
      for (int k = 1; k + 1 < some.nz; ++k) {
        if (some.at(i, j, k) == 0.0f) continue;
        ++evaluated;
        ASSERT_NEAR(some.at(i, j, k), density_at(some.point(i, j, k)), 1e-5f * (1 + some.at(i, j, k)));
      }
  EXPECT_GT(evaluated, 0);
}

TEST_F(ModelTest, RegionOfUnboundedModelsAndBadResolution) {
  SceneFrame frame;
  frame.unbounded = true;
  frame.aabb_min = Eigen::Vector3f::Constant(-2);
  frame.aabb_max = Eigen::Vector3f::Constant(2);
  EXPECT_TRUE(mesh_region(frame).isApprox(Eigen::AlignedBox3f(Eigen::Vector3f::Constant(-1), Eigen::Vector3f::Constant(1))));
  DensityGridOptions options;
  options.resolution = 4;
  EXPECT_THROW(sample_density_grid(*model, mesh_region(model->frame()), options), UsageError);
}

TEST_F(ModelTest, VertexColoursCompositeTheProbeAlongTheNormal) {
  TriangleMesh box = test::box_mesh({-0.3f, -0.2f, -0.3f}, {0.3f, 0.2f, 0.3f});
  VertexColorOptions options;
  options.probe_length = 0.05f;
  options.n_samples = 4;
  color_vertices(*model, box, options);
  ASSERT_EQ(box.colors.size(), 8u);
  // Vertex 7 is the (+,+,+) corner; its normal is the area-weighted mean of the three faces there.
  const Eigen::Vector3f n = vertex_normals(box)[7], p = box.vertices[7];
  at::Tensor xyz = at::empty({4, 3}), dirs = at::empty({4, 3});
  for (int s = 0; s < 4; ++s) {
    const Eigen::Vector3f x = p + 0.05f * n - (s + 0.5f) * 0.025f * n;
    for (int a = 0; a < 3; ++a) {
      xyz[s][a] = x[a];
      dirs[s][a] = -n[a];
    }
  }
  const RadianceField::Output out = model->field().forward(model->to_unit_cube(xyz), dirs);
  Eigen::Vector3f expected = Eigen::Vector3f::Zero();
  float transmittance = 1, opacity = 0;
  for (int s = 0; s < 4; ++s) {
    const float alpha = 1 - std::exp(-out.density[s].item<float>() * 0.025f);
    for (int a = 0; a < 3; ++a) expected[a] += transmittance * alpha * out.rgb[s][a].item<float>();
    opacity += transmittance * alpha;
    transmittance *= 1 - alpha;
  }
  EXPECT_TRUE(box.colors[7].isApprox(expected / opacity, 1e-4f)) << box.colors[7].transpose() << " vs "
                                                                  << (expected / opacity).transpose();
  options.probe_length = 0;
  EXPECT_THROW(color_vertices(*model, box, options), UsageError);
}

// A scene model that is not the hash-grid one and keeps no occupancy grid (as generalizable models): a solid
// sphere of radius 0.5 with a colour that depends on position. Mesh extraction goes through the interface only.
class SphereModel final : public SceneModel {
 public:
  std::string type() const override { return "test_sphere"; }
  const SceneFrame& frame() const override { return m_frame; }
  RayRenderOutput render(const at::Tensor&, const at::Tensor&, const at::Tensor&) const override {
    throw std::logic_error("not used");
  }
  WeightedSamples render_weights(const at::Tensor&, const at::Tensor&) const override {
    throw std::logic_error("not used");
  }
  at::Tensor density(const at::Tensor& points) const override {
    return at::where(points.norm(2, 1) < 0.5f, at::full({points.size(0)}, 100.0f), at::zeros({points.size(0)}));
  }
  PointRadiance radiance(const at::Tensor& points, const at::Tensor& dirs) const override {
    return {density(points), (points * 0.5f + 0.5f).clamp(0.0f, 1.0f)};
  }
  TensorMap state() const override { return {}; }
  nlohmann::json config_json() const override { return nlohmann::json::object(); }

 private:
  SceneFrame m_frame;
};

TEST(SceneModelInterface, AModelWithoutAnOccupancyGridIsSampledEverywhereAndColoured) {
  const SphereModel sphere;
  ASSERT_EQ(sphere.occupancy_grid(), nullptr);
  DensityGridOptions options;
  options.resolution = 33;
  options.occupied_only = true;  // nothing to skip without a grid
  const ScalarGrid grid = sample_density_grid(sphere, mesh_region(sphere.frame()), options);
  int64_t inside = 0;
  for (int i = 1; i + 1 < grid.nx; ++i)
    for (int j = 1; j + 1 < grid.ny; ++j)
      for (int k = 1; k + 1 < grid.nz; ++k) {
        const bool in = grid.point(i, j, k).norm() < 0.5f;
        ASSERT_EQ(grid.at(i, j, k), in ? 100.0f : 0.0f) << i << " " << j << " " << k;
        inside += in;
      }
  EXPECT_GT(inside, 400);  // (4/3) pi 0.25^3 / (1/16)^3 ~ 536 samples
  TriangleMesh box = test::box_mesh({-0.3f, -0.3f, -0.3f}, {0.3f, 0.3f, 0.3f});
  VertexColorOptions colors;
  colors.probe_length = 0.05f;
  color_vertices(sphere, box, colors);
  ASSERT_EQ(box.colors.size(), 8u);
  // Inside the sphere the colour is the position's: the probe around vertex 7 (0.3, 0.3, 0.3) sees ~0.65.
  EXPECT_TRUE(box.colors[7].isApprox(Eigen::Vector3f::Constant(0.65f), 0.05f)) << box.colors[7].transpose();
  EXPECT_EQ(sphere.to_unit_cube(at::tensor({0.0f, 0.0f, 0.0f}).view({1, 3})).view({3}).equal(at::full({3}, 0.5f)), true);
}

TEST_F(ModelTest, TheHashGridModelsRadianceIsItsField) {
  const at::Tensor xyz = at::rand({64, 3}) * 2 - 1;
  const at::Tensor raw = at::randn({64, 3});
  const at::Tensor dirs = raw / raw.norm(2, 1, true);
  const SceneModel& generic = *model;
  EXPECT_EQ(generic.type(), "hashgrid");
  const PointRadiance out = generic.radiance(xyz, dirs);
  const RadianceField::Output expected = model->field().forward(model->to_unit_cube(xyz), dirs);
  EXPECT_TRUE(out.density.equal(expected.density));
  EXPECT_TRUE(out.rgb.equal(expected.rgb));
  EXPECT_TRUE(generic.density(xyz).equal(expected.density));
  EXPECT_NE(generic.occupancy_grid(), nullptr);
}

}  // namespace
}  // namespace semfield
