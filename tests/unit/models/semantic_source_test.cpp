// A distilled feature or label field seen only through the SemanticSource interface: what segmenters, evaluators
// and the viewer read.
#include "semfield/models/semantic_source.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/models/feature_model.h"
#include "semfield/models/radiance_model.h"
#include "support/small_models.h"
#include "support/test_cameras.h"

namespace semfield {
namespace {

// Five rays from z = -3 towards the scene's centre, slightly spread.
std::pair<at::Tensor, at::Tensor> semantic_source_test_rays() {
  at::manual_seed(4);
  const at::Tensor origins = at::tensor({0.0f, 0.0f, -3.0f}).repeat({5, 1});
  const at::Tensor d = at::randn({5, 3}) * 0.1f + at::tensor({0.0f, 0.0f, 1.0f});
  return {origins, d / d.norm(2, {1}, true)};
}

FeatureFieldConfig semantic_source_test_config(std::vector<int64_t> channels) {
  FeatureFieldConfig config = test::small_feature_config(std::move(channels));
  config.head_hidden = 16;
  return config;
}

TEST(SemanticSource, FeatureFieldRendersThroughTheInterface) {
  const RadianceModel radiance(test::small_radiance_config(), SceneFrame{});
  FeatureModel model(semantic_source_test_config({6, 3}), TeacherOutputKind::Features, false, radiance, 1);
  model.field().set_normalization({at::full({6}, 2.0f), at::zeros({3})}, {at::full({6}, 0.5f), at::ones({3})});
  const SemanticSource& source = model;

  EXPECT_FALSE(source.has_classes());
  EXPECT_TRUE(source.class_names().empty());
  EXPECT_EQ(source.channels(), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(&source.scene_model(), &radiance);
  const ChannelStats stats = source.channel_stats(0);
  EXPECT_TRUE(stats.mean.equal(at::full({6}, 2.0f)));
  EXPECT_TRUE(stats.std.equal(at::full({6}, 0.5f)));
  EXPECT_EQ(source.channel_stats(1).mean.sizes(), (at::IntArrayRef{3}));
  EXPECT_THROW(source.channel_stats(2), std::logic_error);

  // The interface's render is the model's own: same maps, opacity and depths.
  const auto [origins, dirs] = semantic_source_test_rays();
  const SemanticRenderOutput out = source.render(origins, dirs);
  const FeatureRenderOutput own = model.render(origins, dirs);
  ASSERT_EQ(out.maps.size(), 2u);
  EXPECT_EQ(out.maps[0].sizes(), (at::IntArrayRef{5, 6}));
  EXPECT_EQ(out.maps[1].sizes(), (at::IntArrayRef{5, 3}));
  EXPECT_TRUE(out.maps[0].equal(own.maps[0]));
  EXPECT_TRUE(out.opacity.equal(own.opacity));
  EXPECT_TRUE(out.median_depth.equal(own.median_depth));
  EXPECT_TRUE(out.latent.defined());
  // No rays: empty maps that keep their channel counts.
  const SemanticRenderOutput none = source.render(at::zeros({0, 3}), at::zeros({0, 3}));
  EXPECT_EQ(none.maps[1].sizes(), (at::IntArrayRef{0, 3}));
  EXPECT_EQ(none.opacity.numel(), 0);

  const at::Tensor points = at::rand({7, 3}) - 0.5f;
  const std::vector<at::Tensor> at_points = source.point_outputs(points);
  ASSERT_EQ(at_points.size(), 2u);
  EXPECT_EQ(at_points[0].sizes(), (at::IntArrayRef{7, 6}));
  EXPECT_EQ(at_points[1].sizes(), (at::IntArrayRef{7, 3}));
  EXPECT_THROW(source.point_outputs(at::zeros({7, 2})), UsageError);
  // A field composited with another model's density renders no colour of its own: whole-view callers render the
  // scene model's view for that.
  EXPECT_FALSE(source.renders_colour());
  EXPECT_THROW(source.render_view_with_colour(test::look_at({0, 0, -3}, {0, 0, 0}, 8), Eigen::Vector3f::Ones()),
               UsageError);
}

TEST(SemanticSource, LabelFieldHasClasses) {
  const RadianceModel radiance(test::small_radiance_config(), SceneFrame{});
  const FeatureModel model(semantic_source_test_config({4}), TeacherOutputKind::Labels, false, radiance, 1);
  const SemanticSource& source = model;
  EXPECT_TRUE(source.has_classes());
  EXPECT_TRUE(source.class_names().empty());  // a distilled label field knows its ids, not their names
  EXPECT_EQ(source.channels(), (std::vector<int64_t>{4}));
  const auto [origins, dirs] = semantic_source_test_rays();
  const SemanticRenderOutput out = source.render(origins, dirs);
  ASSERT_EQ(out.maps.size(), 1u);
  EXPECT_EQ(out.maps[0].sizes(), (at::IntArrayRef{5, 4}));  // class logits
}

}  // namespace
}  // namespace semfield
