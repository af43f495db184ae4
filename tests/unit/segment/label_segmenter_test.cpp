// Class-of-the-click selection for label fields.
#include "semfield/segment/label_segmenter.h"

#include <array>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/models/radiance_model.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/segmenter.h"
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
  prompts.negative = {{6.4, 4.4}};  // also on object 3 (pixel (6, 4): centres at integers)
  EXPECT_EQ(prompted_classes(ids, opacity, prompts), (std::set<int64_t>{2}));
  // A click on the empty background selects nothing, whatever class the background latent renders there.
  Prompts empty;
  empty.positive = {{0.4, 0.4}};  // pixel (0, 0)
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

// A 6x8 view of two objects of one class (1) on the ground (class 2), and, with instances, their slots among 4 (2 for
// the ground). Object A lies on the left, B on the right; a camera whose x position is negative sees them swapped (the
// second view). A's slot is 0 and B's 1 in the first view; in the second view `second` = {A's, B's}.
class TwoObjectsSource final : public SemanticSource {
 public:
  explicit TwoObjectsSource(bool instances, std::array<int64_t, 2> second = {0, 1}, bool one_slot = false)
      : m_instances(instances), m_second(second), m_one_slot(one_slot),
        m_radiance(test::small_radiance_config(), SceneFrame{}) {}
  bool has_instances() const override { return m_instances; }
  bool has_classes() const override { return true; }
  std::vector<std::string> class_names() const override { return {"void", "chair", "ground"}; }
  std::vector<int64_t> channels() const override { return {3}; }
  ChannelStats channel_stats(size_t) const override { return {at::zeros({3}), at::ones({3})}; }
  SemanticRenderOutput render(const at::Tensor&, const at::Tensor&) const override {
    throw std::logic_error("whole views only");
  }
  SemanticRenderOutput render_view(const Camera& camera) const override {
    const bool second = camera.origin().x() < 0;
    const int64_t a_slot = second ? m_second[0] : 0, b_slot = second ? m_second[1] : 1;
    at::Tensor classes = at::full({6, 8}, 2, at::kLong), slots = at::full({6, 8}, 2, at::kLong);
    classes.slice(0, 0, 3).slice(1, 0, 3).fill_(1);
    classes.slice(0, 0, 3).slice(1, 5, 8).fill_(1);
    slots.slice(0, 0, 3).slice(1, 0, 3).fill_(second ? b_slot : a_slot);
    slots.slice(0, 0, 3).slice(1, 5, 8).fill_(second ? a_slot : b_slot);
    if (m_one_slot) slots.fill_(0);  // a head that tells nothing apart
    SemanticRenderOutput out;
    out.maps = {at::one_hot(classes.reshape({-1}), 3).to(at::kFloat)};
    if (m_instances) out.instances = at::one_hot(slots.reshape({-1}), 4).to(at::kFloat);
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
  std::array<int64_t, 2> m_second;
  bool m_one_slot;
  RadianceModel m_radiance;
};

// A source with instances of its own (GP-NeRF's instance head) selects the clicked object (its slot's pixels of its
// class) and finds it again in another view by its slot; where that slot is absent, under the re-projected clicks,
// else under the 3D selection. Without instances the click selects every object of the class.
TEST(LabelSegmenter, WithInstancesAClickSelectsOneObjectNotItsClass) {
  const Camera front = test::look_at({3, 0, 0}, {0, 0, 0}, 8, 6, 8.0);
  const Camera back = test::look_at({-3, 0, 0}, {0, 0, 0}, 8, 6, 8.0);
  Prompts click;
  click.positive = {{1.5, 1.5}};  // on A, on the left in the first view
  at::Tensor left = at::zeros({6, 8}, at::kBool), right = at::zeros({6, 8}, at::kBool);
  left.slice(0, 0, 3).slice(1, 0, 3).fill_(true);
  right.slice(0, 0, 3).slice(1, 5, 8).fill_(true);
  Prompts reprojected;  // A's click seen from the back: on the right
  reprojected.positive = {{6.5, 1.5}};

  const TwoObjectsSource with(true);
  LabelSegmenter instances(with);
  EXPECT_EQ(instances.method(), "label-instance");
  const SegmentView view = instances.prepare(front, "front");
  ASSERT_EQ(view.maps.size(0), 2);  // classes and slots
  EXPECT_TRUE(at::equal(instances.segment(view, click), left));
  EXPECT_EQ(instances.selected_ids(), (std::set<int64_t>{1 * 256 + 0}));  // class 1, slot 0
  const SegmentView back_view = instances.prepare(back, "back");
  EXPECT_TRUE(at::equal(instances.follow(back_view, {}, at::Tensor()), right));  // A's slot, wherever A lies
  Prompts misplaced;  // a click lifted with a poor depth lands on B: the slot still wins
  misplaced.positive = {{1.5, 1.5}};
  EXPECT_TRUE(at::equal(instances.follow(back_view, misplaced, left), right));

  // A's slot absent from the second view (a head whose slots differ between views, here A 3 and B 1): the clicks, or
  // the 3D selection's pixels, find A; neither a click on the ground nor a selection mostly over it selects the ground.
  const TwoObjectsSource renamed(true, {3, 1});
  LabelSegmenter moving(renamed);
  EXPECT_TRUE(at::equal(moving.segment(moving.prepare(front, "front"), click), left));
  const SegmentView renamed_back = moving.prepare(back, "back");
  EXPECT_FALSE(moving.follow(renamed_back, {}, at::Tensor()).any().item<bool>());  // nothing to go by
  EXPECT_TRUE(at::equal(moving.follow(renamed_back, reprojected, at::Tensor()), right));
  at::Tensor seed = right.clone();
  seed[0][5] = false;  // most of A's pixels, and a ground pixel
  seed[4][5] = true;
  EXPECT_TRUE(at::equal(moving.follow(renamed_back, {}, seed), right));
  Prompts on_ground;
  on_ground.positive = {{3.5, 4.5}};
  EXPECT_FALSE(moving.follow(renamed_back, on_ground, at::Tensor()).any().item<bool>());
  at::Tensor spilled = at::zeros({6, 8}, at::kBool);
  spilled.slice(0, 2, 6).fill_(true);  // the ground, and one row of each object
  spilled.slice(0, 2, 3).slice(1, 0, 3).fill_(false);
  EXPECT_TRUE(at::equal(moving.follow(renamed_back, {}, spilled), right));

  // A head with one slot over everything selects the clicked object's class, not the ground with it.
  const TwoObjectsSource weak(true, {0, 1}, true);
  LabelSegmenter untrained(weak);
  EXPECT_TRUE(at::equal(untrained.segment(untrained.prepare(front, "front"), click), left | right));

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
  EXPECT_EQ(classes.selected_ids(), (std::set<int64_t>{1}));
  EXPECT_TRUE(at::equal(classes.follow(classes.prepare(back, "back"), {}, at::Tensor()), left | right));

  // The method's choice: instances by default, the class with `--method class`, instances required with `instance`.
  EXPECT_EQ(make_segmenter(with, "test")->method(), "label-instance");
  const std::unique_ptr<Segmenter> by_class = make_segmenter(with, "test", "class");
  EXPECT_EQ(by_class->method(), "label-class");
  EXPECT_TRUE(at::equal(by_class->segment(by_class->prepare(front, "front"), click), left | right));
  EXPECT_EQ(make_segmenter(with, "test", "instance")->method(), "label-instance");
  EXPECT_THROW(make_segmenter(without, "test", "instance"), UsageError);  // no instance head
  EXPECT_THROW(make_segmenter(with, "test", "similarity"), UsageError);
  EXPECT_THROW(make_segmenter(with, "test", "instances"), UsageError);
}

TEST(LabelSegmenter, AutoSelectsClassesWhereApplyMeasuredAWeakInstanceHead) {
  LoadedRun run;
  // A per-scene run, an applied run without a check (no instance head, or applied before the check existed): as asked.
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "auto"), "auto");
  run.applied = AppliedRunSpec{};
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "auto"), "auto");
  // A head that tells the objects apart: auto (instances).
  run.applied->instance_head = InstanceHeadCheck{0.86, 4, "test", 40};
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "auto"), "auto");
  // One that does not (one slot over several objects): classes, unless instances are asked for.
  run.applied->instance_head = InstanceHeadCheck{0.07, 4, "test", 40};
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "auto"), "class");
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "instance"), "instance");
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "class"), "class");
  run.applied->instance_head->ap75 = kInstanceHeadMinAp;  // the bound itself is enough
  EXPECT_EQ(segment_method_for(run, kModelSemantics, "auto"), "auto");
  // A distilled field of the same run: its own method, whatever the model's head scored.
  run.applied->instance_head->ap75 = 0.0;
  EXPECT_EQ(segment_method_for(run, "labels", "auto"), "auto");
  EXPECT_THROW(segment_method_for(run, kModelSemantics, "instances"), UsageError);
}

}  // namespace
}  // namespace semfield
