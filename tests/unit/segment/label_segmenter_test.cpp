// Class-of-the-click selection for label fields.
#include "semfield/segment/label_segmenter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/models/radiance_model.h"
#include "support/small_models.h"
#include "support/test_cameras.h"

namespace semfield {
namespace {

TEST(LabelSegmenter, ClicksPickClassesNegativesRemoveThem) {
  // ids: 0 background, 1 ground, 2 and 3 objects.
  at::Tensor ids = at::zeros({6, 8}, at::kLong);
  ids.slice(0, 3, 6).fill_(1);
  ids.slice(0, 1, 3).slice(1, 1, 3).fill_(2);
  ids.slice(0, 2, 5).slice(1, 5, 7).fill_(3);
  const at::Tensor opacity = (ids > 0).to(at::kFloat);
  Prompts prompts;
  prompts.positive = {{1.5, 1.5}, {5, 2}};
  EXPECT_EQ(prompted_classes(ids, opacity, prompts), (std::set<int64_t>{2, 3}));
  prompts.negative = {{6.9, 4.9}};  // also on object 3
  EXPECT_EQ(prompted_classes(ids, opacity, prompts), (std::set<int64_t>{2}));
  // A click on the empty background selects nothing, whatever class the background latent renders there.
  Prompts empty;
  empty.positive = {{0.5, 0.5}};
  EXPECT_TRUE(prompted_classes(ids, opacity, empty).empty());
  EXPECT_EQ(class_mask(ids, {2}).sum().item<int64_t>(), 4);
  EXPECT_TRUE(class_mask(ids, {2, 3}).equal((ids == 2) | (ids == 3)));
  EXPECT_FALSE(class_mask(ids, {}).any().item<bool>());
  // A box alone takes its most frequent opaque class: the ground here, not the empty background.
  Prompts box;
  box.box = Eigen::Vector4d(0, 0, 7, 5);
  EXPECT_EQ(prompted_classes(ids, opacity, box), (std::set<int64_t>{1}));
  box.box = Eigen::Vector4d(5, 2, 6, 3);
  EXPECT_EQ(prompted_classes(ids, opacity, box), (std::set<int64_t>{3}));
}

// A 6x8 view of two objects of one class (1) on the ground (class 2), and, with instances, their slots: 0 and 1 for
// the objects, 2 for the ground. The objects swap places in a camera whose x position is negative (another view).
class TwoObjectsSource final : public SemanticSource {
 public:
  explicit TwoObjectsSource(bool instances)
      : m_instances(instances), m_radiance(test::small_radiance_config(), SceneFrame{}) {}
  bool has_instances() const override { return m_instances; }
  bool has_classes() const override { return true; }
  std::vector<std::string> class_names() const override { return {"void", "chair", "ground"}; }
  std::vector<int64_t> channels() const override { return {3}; }
  ChannelStats channel_stats(size_t) const override { return {at::zeros({3}), at::ones({3})}; }
  SemanticRenderOutput render(const at::Tensor&, const at::Tensor&) const override {
    throw std::logic_error("whole views only");
  }
  SemanticRenderOutput render_view(const Camera& camera) const override {
    const bool swapped = camera.origin().x() < 0;
    at::Tensor classes = at::full({6, 8}, 2, at::kLong), slots = at::full({6, 8}, 2, at::kLong);
    classes.slice(0, 0, 3).slice(1, 0, 3).fill_(1);
    classes.slice(0, 0, 3).slice(1, 5, 8).fill_(1);
    slots.slice(0, 0, 3).slice(1, 0, 3).fill_(swapped ? 1 : 0);
    slots.slice(0, 0, 3).slice(1, 5, 8).fill_(swapped ? 0 : 1);
    SemanticRenderOutput out;
    out.maps = {at::one_hot(classes.reshape({-1}), 3).to(at::kFloat)};
    if (m_instances) out.instances = at::one_hot(slots.reshape({-1}), 3).to(at::kFloat);
    out.opacity = at::ones({48});
    out.depth = out.median_depth = at::full({48}, 2.0f);
    return out;
  }
  std::vector<at::Tensor> point_outputs(const at::Tensor& points) const override {
    return {at::zeros({points.size(0), 3})};
  }
  const SceneModel& scene_model() const override { return m_radiance; }

 private:
  bool m_instances;
  RadianceModel m_radiance;
};

// A source with instances of its own (GP-NeRF's instance head) selects the clicked object, and follows its slot into
// another view; without instances the click selects every object of the class.
TEST(LabelSegmenter, WithInstancesAClickSelectsOneObjectNotItsClass) {
  const Camera front = test::look_at({3, 0, 0}, {0, 0, 0}, 8, 6, 8.0);
  const Camera back = test::look_at({-3, 0, 0}, {0, 0, 0}, 8, 6, 8.0);
  Prompts click;
  click.positive = {{1.5, 1.5}};  // on the left object
  at::Tensor left = at::zeros({6, 8}, at::kBool), right = at::zeros({6, 8}, at::kBool);
  left.slice(0, 0, 3).slice(1, 0, 3).fill_(true);
  right.slice(0, 0, 3).slice(1, 5, 8).fill_(true);

  const TwoObjectsSource with(true);
  LabelSegmenter instances(with);
  EXPECT_EQ(instances.method(), "label-instance");
  const SegmentView view = instances.prepare(front, "front");
  ASSERT_EQ(view.maps.size(0), 2);  // classes and slots
  EXPECT_TRUE(at::equal(instances.segment(view, click), left));
  EXPECT_EQ(instances.classes(), (std::set<int64_t>{0}));
  // In the other view the object is on the right: its slot, not its place or its class, is followed.
  EXPECT_TRUE(at::equal(instances.follow(instances.prepare(back, "back"), {}, at::Tensor()), right));
  // A box alone takes its most frequent slot.
  Prompts box;
  box.box = Eigen::Vector4d(5, 0, 8, 3);
  EXPECT_TRUE(at::equal(instances.segment(view, box), right));

  const TwoObjectsSource without(false);
  LabelSegmenter classes(without);
  EXPECT_EQ(classes.method(), "label-class");
  const SegmentView class_view = classes.prepare(front, "front");
  EXPECT_EQ(class_view.maps.size(0), 1);
  EXPECT_TRUE(at::equal(classes.segment(class_view, click), left | right));
  EXPECT_EQ(classes.classes(), (std::set<int64_t>{1}));
}

}  // namespace
}  // namespace semfield
