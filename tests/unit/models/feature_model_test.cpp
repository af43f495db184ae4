// Feature compositing (SAN Eq. 6) and the feature model on a frozen radiance model.
#include "semfield/models/radiance_model.h"
#include "semfield/models/feature_model.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "support/small_models.h"
#include <torch/csrc/autograd/autograd.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

// Per-ray loop reference of composite_weighted.
at::Tensor reference(const at::Tensor& values, const at::Tensor& weights, const at::Tensor& offsets) {
  std::vector<at::Tensor> rows;
  for (int64_t r = 0; r + 1 < offsets.size(0); ++r) {
    const int64_t b = offsets[r].item<int64_t>(), e = offsets[r + 1].item<int64_t>();
    rows.push_back(e > b ? (values.narrow(0, b, e - b) * weights.narrow(0, b, e - b).unsqueeze(1)).sum(0)
                         : at::zeros({values.size(1)}, values.options()));
  }
  return at::stack(rows);
}

TEST(CompositeWeighted, MatchesReferenceValuesAndGradients) {
  at::manual_seed(0);
  const at::Tensor offsets = at::tensor({0, 3, 3, 7, 8}, at::kLong);  // ray 1 has no samples
  const at::Tensor values = at::randn({8, 5}, at::kDouble).requires_grad_(true);
  const at::Tensor weights = at::rand({8}, at::kDouble).requires_grad_(true);
  const at::Tensor upstream = at::randn({4, 5}, at::kDouble);
  const at::Tensor out = composite_weighted(values, weights, offsets);
  const at::Tensor ref = reference(values, weights, offsets);
  EXPECT_TRUE(at::allclose(out, ref, 1e-12, 1e-12));
  EXPECT_TRUE(out[1].eq(0).all().item<bool>());
  const auto g = torch::autograd::grad({(out * upstream).sum()}, {values, weights});
  const auto g_ref = torch::autograd::grad({(ref * upstream).sum()}, {values, weights});
  EXPECT_TRUE(at::allclose(g[0], g_ref[0], 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(g[1], g_ref[1], 1e-12, 1e-12));
  // And against central finite differences on a few entries.
  const double h = 1e-6;
  for (const auto& [i, j] : {std::pair<int64_t, int64_t>{0, 0}, {4, 3}, {7, 4}}) {
    at::Tensor vp = values.detach().clone(), vm = values.detach().clone();
    vp[i][j] += h;
    vm[i][j] -= h;
    const double fd = ((composite_weighted(vp, weights.detach(), offsets) * upstream).sum().item<double>() -
                       (composite_weighted(vm, weights.detach(), offsets) * upstream).sum().item<double>()) /
                      (2 * h);
    EXPECT_NEAR(g[0][i][j].item<double>(), fd, 1e-7);
  }
}

TEST(CompositeWeighted, EmptyBatchesAndBadShapes) {
  const at::Tensor out = composite_weighted(at::zeros({0, 3}), at::zeros({0}), at::zeros({3}, at::kLong));
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_THROW(composite_weighted(at::zeros({4, 3}), at::zeros({3}), at::tensor({0, 4}, at::kLong)), Error);
}

class FeatureModelTest : public ::testing::Test {
 protected:
  FeatureModelTest() {
    radiance = std::make_unique<RadianceModel>(test::small_radiance_config(), SceneFrame{});
    FeatureFieldConfig fc = test::small_feature_config({6, 3});
    fc.head_hidden = 16;
    model = std::make_unique<FeatureModel>(fc, TeacherOutputKind::Features, false, *radiance, 1);
    at::manual_seed(2);
    origins = at::tensor({0.0f, 0.0f, -3.0f}).repeat({5, 1});
    const at::Tensor d = at::randn({5, 3}) * 0.1f + at::tensor({0.0f, 0.0f, 1.0f});
    dirs = d / d.norm(2, {1}, true);
  }
  std::unique_ptr<RadianceModel> radiance;
  std::unique_ptr<FeatureModel> model;
  at::Tensor origins, dirs;
};

TEST_F(FeatureModelTest, RenderAgreesWithItsParts) {
  const FeatureRenderOutput out = model->render(origins, dirs);
  ASSERT_EQ(out.maps.size(), 2u);
  EXPECT_EQ(out.maps[0].sizes(), (at::IntArrayRef{5, 6}));
  EXPECT_EQ(out.maps[1].sizes(), (at::IntArrayRef{5, 3}));
  // The density is the radiance model's: same opacity as its own renderer.
  const RayRenderOutput rgb = radiance->render(origins, dirs, at::ones({3}));
  EXPECT_TRUE(at::allclose(out.opacity, rgb.opacity, 1e-4, 1e-4));
  // Heads after quadrature: decoding the returned latent reproduces the maps.
  const auto decoded = model->field().decode(out.latent);
  EXPECT_TRUE(at::allclose(decoded[0], out.maps[0], 1e-5, 1e-5));
  // The training path composites the same latent.
  const at::Tensor train_latent = model->render_latent_train(origins, dirs);
  EXPECT_TRUE(at::allclose(train_latent.detach(), out.latent, 1e-5, 1e-5));
  // Gradients reach the heads.
  model->field().decode_standardized(train_latent, 0).sum().backward();
  bool any = false;
  for (const auto& p : model->field().dense_parameters()) any = any || (p.grad().defined() && p.grad().abs().sum().item<float>() > 0);
  EXPECT_TRUE(any);
  model->field().backward_grid();
}

TEST_F(FeatureModelTest, SurfaceModeUsesOnePointPerRay) {
  FeatureFieldConfig fc = model->field().config();
  FeatureModel surface(fc, TeacherOutputKind::Features, true, *radiance, 1);
  const FeatureRenderOutput out = surface.render(origins, dirs);
  const at::Tensor t = out.depth;
  const at::Tensor points = origins + dirs * t.unsqueeze(1);
  const at::Tensor expected = surface.field().with_background(
      surface.field().encode(radiance->to_unit_cube(points)) * out.opacity.unsqueeze(1), out.opacity);
  EXPECT_TRUE(at::allclose(out.latent, expected, 1e-5, 1e-6));
  EXPECT_EQ(surface.point_outputs(points)[1].sizes(), (at::IntArrayRef{5, 3}));
}

TEST(FeatureField, StateRoundTripsAndNormalizationIsUndone) {
  FeatureFieldConfig fc;
  fc.grid.log2_table_size = 10;
  fc.head_hidden = 8;
  fc.channels = {4};
  FeatureField a(fc, 3), b(fc, 4);
  a.set_normalization({at::full({4}, 2.0f)}, {at::full({4}, 0.5f)});
  const at::Tensor latent = at::randn({7, a.latent_dims()});
  EXPECT_TRUE(at::allclose(a.decode(latent)[0], a.decode_standardized(latent)[0] * 0.5f + 2.0f));
  b.load_state(a.state(), "test");
  EXPECT_TRUE(at::allclose(a.decode(latent)[0], b.decode(latent)[0]));
  FeatureFieldConfig other = fc;
  other.channels = {5};
  FeatureField c(other, 0);
  EXPECT_THROW(c.load_state(a.state(), "test"), InputError);
}

}  // namespace
}  // namespace semfield
