// ViewOutputCache: a view's semantics kept from its colour pass are served once to render_view of the same camera,
// within the byte limit; everything else goes to the wrapped source.
#include "semfield/pipeline/view_output_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/models/radiance_model.h"
#include "support/small_models.h"
#include "support/test_cameras.h"

namespace semfield {
namespace {

// A source with classes (and, when asked, 3 instance slots) whose outputs depend on the camera (its width and x
// position) and that counts its passes.
class CountingSource final : public SemanticSource {
 public:
  explicit CountingSource(bool colour, bool instances = false)
      : m_colour(colour), m_instances(instances), m_radiance(test::small_radiance_config(), SceneFrame{}) {}
  mutable int semantic_passes = 0, colour_passes = 0;

  bool has_instances() const override { return m_instances; }
  bool has_classes() const override { return true; }
  std::vector<std::string> class_names() const override { return {"a", "b"}; }
  std::vector<int64_t> channels() const override { return {2}; }
  ChannelStats channel_stats(size_t) const override { return {at::zeros({2}), at::ones({2})}; }
  SemanticRenderOutput render(const at::Tensor& origins, const at::Tensor&) const override {
    return outputs(origins.size(0), 0.0f);
  }
  SemanticRenderOutput render_view(const Camera& camera) const override {
    ++semantic_passes;
    const int64_t r = static_cast<int64_t>(camera.intrinsics.width) * camera.intrinsics.height;
    SemanticRenderOutput out = outputs(r, static_cast<float>(camera.origin().x()));
    if (m_instances) out.instances = instance_logits(r);
    return out;
  }
  bool renders_colour() const override { return m_colour; }
  SemanticRenderOutput render_view_with_colour(const Camera& camera, const Eigen::Vector3f& background) const override {
    ++colour_passes;
    const int64_t r = static_cast<int64_t>(camera.intrinsics.width) * camera.intrinsics.height;
    SemanticRenderOutput out = outputs(r, static_cast<float>(camera.origin().x()));
    if (m_instances) out.instances = instance_logits(r);
    out.rgb = at::tensor({background.x(), background.y(), background.z()}).expand({r, 3}).contiguous();
    out.latent = at::ones({r, 4});
    return out;
  }
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override {
    return {at::zeros({points.size(0), 2})};
  }
  const SceneModel& scene_model() const override { return m_radiance; }

 private:
  static SemanticRenderOutput outputs(int64_t r, float x) {
    SemanticRenderOutput out;
    out.maps = {at::arange(2 * r, at::kFloat).reshape({r, 2}) + x};
    out.opacity = at::full({r}, 0.25f);
    out.depth = out.median_depth = at::full({r}, 2.0f);
    return out;
  }
  static at::Tensor instance_logits(int64_t r) { return at::arange(3 * r, at::kFloat).reshape({r, 3}); }
  bool m_colour, m_instances;
  RadianceModel m_radiance;
};

TEST(ViewOutputCache, ServesEachColourPassViewsSemanticsOnceAndDelegatesTheRest) {
  const CountingSource source(true);
  ViewOutputCache cache(source);
  const Camera a = test::look_at({1, 0, 0}, {0, 0, 0}, 8);
  const Camera b = test::look_at({2, 0, 0}, {0, 0, 0}, 8);
  const RenderedView view = cache.render_colour(a, Eigen::Vector3f(0.1f, 0.2f, 0.3f));
  EXPECT_EQ(view.rgb.width, 8);
  EXPECT_FLOAT_EQ(view.rgb.pixels[1], 0.2f);  // the colour over the background asked for
  EXPECT_FLOAT_EQ(view.opacity.pixels[0], 0.25f);
  EXPECT_FLOAT_EQ(view.depth.pixels[0], 0.0f);  // opacity 0.25 <= 0.5: no depth, as render_view
  EXPECT_EQ(source.colour_passes, 1);

  // The same camera: the kept outputs, no pass; the same values render_view gives.
  const SemanticRenderOutput kept = cache.render_view(a);
  EXPECT_EQ(source.semantic_passes, 0);
  EXPECT_TRUE(kept.maps.front().equal(source.render_view(a).maps.front()));
  EXPECT_TRUE(kept.opacity.equal(at::full({64}, 0.25f)));
  EXPECT_FALSE(kept.rgb.defined());
  EXPECT_FALSE(kept.latent.defined());
  source.semantic_passes = 0;
  // Served once; another camera, or the same pose at another size, goes to the source.
  cache.render_view(a);
  cache.render_view(b);
  Camera a_small = a;
  a_small.intrinsics = a.intrinsics.resized(4, 4);
  cache.render_colour(a, Eigen::Vector3f::Ones());
  cache.render_view(a_small);
  EXPECT_EQ(source.semantic_passes, 3);
  EXPECT_EQ(cache.hits(), 1);
  EXPECT_EQ(cache.misses(), 3);
  // Its resized twice back to the same size is the same camera (evaluate_features asks for camera_for_map of the view).
  Camera a_again = a;
  a_again.intrinsics = a.intrinsics.resized(8, 8);
  EXPECT_TRUE(same_camera(a, a_again));
  cache.render_view(a_again);
  EXPECT_EQ(cache.hits(), 2);

  // Everything else is the source's.
  EXPECT_EQ(cache.class_names(), source.class_names());
  EXPECT_EQ(cache.channels(), source.channels());
  EXPECT_EQ(&cache.scene_model(), &source.scene_model());
  EXPECT_FALSE(cache.has_instances());
  EXPECT_THROW(cache.render_instances(a), UsageError);
}

TEST(ViewOutputCache, KeepsNoMoreThanItsByteLimitAndNeedsASourceThatRendersColour) {
  const CountingSource source(true);
  // One 8x8 view keeps 64 x (2 + 3) floats = 1,280 bytes: room for one.
  ViewOutputCache cache(source, 1500);
  const Camera a = test::look_at({1, 0, 0}, {0, 0, 0}, 8);
  const Camera b = test::look_at({2, 0, 0}, {0, 0, 0}, 8);
  cache.render_colour(a, Eigen::Vector3f::Ones());
  cache.render_colour(b, Eigen::Vector3f::Ones());
  cache.render_view(b);
  cache.render_view(a);
  EXPECT_EQ(cache.hits(), 1);
  EXPECT_EQ(cache.misses(), 1);
  EXPECT_EQ(source.semantic_passes, 1);
  // Served views free their room.
  cache.render_colour(b, Eigen::Vector3f::Ones());
  cache.render_view(b);
  EXPECT_EQ(cache.hits(), 2);

  const CountingSource without(false);
  EXPECT_THROW(ViewOutputCache{without}, UsageError);
  EXPECT_NO_THROW(ViewOutputCache(without, ViewCachePolicy::recent_views(1500)));  // fills itself from render_view
  Camera moved = a;
  moved.c2w(0, 3) += 1e-9;
  EXPECT_FALSE(same_camera(a, moved));
  Camera distorted = a;
  distorted.intrinsics.distortion.k1 = 0.01;
  EXPECT_FALSE(same_camera(a, distorted));
}

// Instance logits (GP-NeRF's instance head, decoded in the colour pass) are kept with the view: render_instances of a
// kept camera renders nothing, and returns the pass's logits as [slots,H,W].
TEST(ViewOutputCache, ServesAKeptViewsInstanceLogits) {
  const CountingSource source(true, true);
  ViewOutputCache cache(source);
  const Camera a = test::look_at({1, 0, 0}, {0, 0, 0}, 8, 6, 8.0);  // 8 wide, 6 high
  cache.render_colour(a, Eigen::Vector3f::Ones());
  ASSERT_TRUE(cache.has_instances());
  const at::Tensor logits = cache.render_instances(a);
  EXPECT_EQ(source.semantic_passes, 0);
  EXPECT_EQ(cache.hits(), 1);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3, 6, 8}));
  EXPECT_FLOAT_EQ(logits[1][0][2].item<float>(), 3.0f * 2 + 1);  // pixel (row 0, column 2), slot 1
  EXPECT_FLOAT_EQ(logits[2][1][0].item<float>(), 3.0f * 8 + 2);  // pixel (row 1, column 0), slot 2
  EXPECT_FLOAT_EQ(logits[0][5][7].item<float>(), 3.0f * 47);     // the last pixel, slot 0
  // Another camera: one pass of the source, the same layout.
  EXPECT_TRUE(at::equal(cache.render_instances(test::look_at({2, 0, 0}, {0, 0, 0}, 8, 6, 8.0)), logits));
  EXPECT_EQ(source.semantic_passes, 1);
  // eval scoring classes only keeps no instance logits.
  ViewCachePolicy classes_only;
  classes_only.keep_instances = false;
  ViewOutputCache lean(source, classes_only);
  lean.render_colour(a, Eigen::Vector3f::Ones());
  const SemanticRenderOutput kept = lean.render_view(a);
  EXPECT_EQ(lean.hits(), 1);
  EXPECT_FALSE(kept.instances.defined());
  EXPECT_TRUE(kept.maps[0].defined());
}

// The viewer's policy: render_view's own renders are kept and served as often as asked, as deep copies, the least
// recently used dropped past the byte limit; a source without colour of its own is fine.
TEST(ViewOutputCache, RecentViewsAreServedRepeatedlyLeastRecentlyUsedDroppedFirst) {
  const CountingSource source(false);
  // One 8x8 view keeps 64 x (2 + 3) floats = 1,280 bytes: room for two within 3,000.
  ViewOutputCache cache(source, ViewCachePolicy::recent_views(3000));
  EXPECT_FALSE(cache.renders_colour());
  const Camera a = test::look_at({1, 0, 0}, {0, 0, 0}, 8);
  const Camera b = test::look_at({2, 0, 0}, {0, 0, 0}, 8);
  const Camera c = test::look_at({3, 0, 0}, {0, 0, 0}, 8);
  const SemanticRenderOutput first = cache.render_view(a);
  SemanticRenderOutput again = cache.render_view(a);
  EXPECT_EQ(source.semantic_passes, 1);
  EXPECT_TRUE(at::equal(again.maps[0], first.maps[0]));
  EXPECT_TRUE(at::equal(again.median_depth, first.median_depth));
  // A copy: changing what was served changes neither the kept view nor what the first caller got.
  again.maps[0].fill_(-1.0f);
  EXPECT_TRUE(at::equal(cache.render_view(a).maps[0], first.maps[0]));
  EXPECT_EQ(source.semantic_passes, 1);
  EXPECT_EQ(cache.hits(), 2);
  cache.render_view(b);  // a, b kept; a was used before b
  cache.render_view(a);  // a becomes the most recent
  cache.render_view(c);  // no room for three: b, the least recently used, goes
  EXPECT_EQ(source.semantic_passes, 3);
  cache.render_view(a);
  cache.render_view(c);
  EXPECT_EQ(source.semantic_passes, 3);
  cache.render_view(b);
  EXPECT_EQ(source.semantic_passes, 4);
  EXPECT_EQ(cache.misses(), 4);
  // A view larger than the limit is served but not kept, and evicts nothing.
  ViewOutputCache tiny(source, ViewCachePolicy::recent_views(100));
  tiny.render_view(a);
  tiny.render_view(a);
  EXPECT_EQ(tiny.hits(), 0);
  EXPECT_EQ(source.semantic_passes, 6);
  const Camera big = test::look_at({4, 0, 0}, {0, 0, 0}, 16);  // 4 x 1,280 bytes
  cache.render_view(big);  // c and b, kept now, stay
  cache.render_view(b);
  cache.render_view(c);
  EXPECT_EQ(source.semantic_passes, 7);
}

// What a miss returns is the caller's: changing it leaves the kept copy as rendered. A colour pass of a kept camera
// replaces its entry (the bytes counted once).
TEST(ViewOutputCache, RecentViewsKeepTheirOwnCopyAndAColourPassReplacesAKeptView) {
  const CountingSource source(true);
  ViewOutputCache cache(source, ViewCachePolicy::recent_views(2600));  // two 8x8 views
  const Camera a = test::look_at({1, 0, 0}, {0, 0, 0}, 8);
  const Camera b = test::look_at({2, 0, 0}, {0, 0, 0}, 8);
  SemanticRenderOutput first = cache.render_view(a);
  const at::Tensor rendered = first.maps[0].clone();
  first.maps[0].fill_(-1.0f);
  first.opacity.fill_(-1.0f);
  const SemanticRenderOutput again = cache.render_view(a);
  EXPECT_TRUE(at::equal(again.maps[0], rendered));
  EXPECT_FALSE(at::equal(again.opacity, first.opacity));
  cache.render_colour(a, Eigen::Vector3f::Ones());  // replaces a's entry: still room for b beside it
  EXPECT_EQ(cache.colour_passes(), 1);
  cache.render_view(b);
  cache.render_view(a);
  cache.render_view(b);
  EXPECT_EQ(source.semantic_passes, 2);  // a once, b once
  EXPECT_EQ(cache.hits(), 3);
}

}  // namespace
}  // namespace semfield
