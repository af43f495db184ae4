// Label scores (mIoU, accuracy), PCA pictures, label colours and distilled-field names.
#include "semfield/pipeline/feature_evaluator.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"

namespace semfield {
namespace {

TEST(LabelScores, HandComputedConfusion) {
  LabelScores scores(3);
  EXPECT_FALSE(scores.miou().has_value());
  // truth:     0 0 1 1 2 -1
  // predicted: 0 1 1 1 1  2
  scores.add(at::tensor({0, 1, 1, 1, 1, 2}, at::kLong), at::tensor({0, 0, 1, 1, 2, -1}, at::kLong));
  // class 0: I 1, U 2; class 1: I 2, U 4; class 2: I 0, U 1 -> (0.5 + 0.5 + 0) / 3.
  EXPECT_NEAR(*scores.miou(), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(*scores.accuracy(), 3.0 / 5.0, 1e-12);  // the ignored pixel does not count
  // Accumulates over maps; a perfect second map raises both.
  scores.add(at::tensor({2, 2}, at::kLong), at::tensor({2, 2}, at::kLong));
  EXPECT_NEAR(*scores.accuracy(), 5.0 / 7.0, 1e-12);
  EXPECT_NEAR(*scores.miou(), (0.5 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_TRUE(scores.spurious_classes().empty());
}

TEST(LabelScores, ClassesAbsentFromTheTruthAreNotAveraged) {
  // Truth has classes 1 and 2 only; class 0 is predicted once (a "void" label at a surface point).
  LabelScores scores(3);
  // truth:     1 1 1 2 2
  // predicted: 0 1 1 2 2
  scores.add(at::tensor({0, 1, 1, 2, 2}, at::kLong), at::tensor({1, 1, 1, 2, 2}, at::kLong));
  // class 1: I 2, U 3; class 2: I 2, U 2 -> (2/3 + 1) / 2; class 0 (IoU 0) is not in the mean.
  EXPECT_NEAR(*scores.miou(), (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
  EXPECT_NEAR(*scores.accuracy(), 4.0 / 5.0, 1e-12);
  EXPECT_THAT(scores.spurious_classes(), ::testing::ElementsAre(0));
}

TEST(ClassMatch, ClassesMatchByNameAndUnknownOnesAreLeftOutOrWrong) {
  // The model's classes: 0 void, 1 ground, 2 lamp (the truth has no lamp); the truth's: 0 void, 1 box, 2 ground
  // (the model has no box).
  const auto match =
      ClassMatch::by_name({"void", "ground", "lamp"}, {{0, "void"}, {1, "box"}, {2, "ground"}, {3, "cone"}}, {0, 1, 2});
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->left_out, std::vector<std::string>{"box"});  // not the cone: no truth pixel has it
  EXPECT_EQ(match->unknown, std::vector<std::string>{"lamp"});
  // predicted (model ids): ground ground lamp void void; truth (truth ids): ground ground ground box void
  const auto [p, t] = match->apply(at::tensor({1, 1, 2, 0, 0}, at::kLong), at::tensor({2, 2, 2, 1, 0}, at::kLong));
  // Scored classes: the names both know, in the order of their first truth id: void 0, ground 1.
  EXPECT_EQ(match->names, (std::vector<std::string>{"void", "ground"}));
  EXPECT_EQ(match->truth_ids, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(at::equal(p, at::tensor({1, 1, 2, 0, 0}, at::kLong)));   // lamp -> 2: a class the truth never has
  EXPECT_TRUE(at::equal(t, at::tensor({1, 1, 1, -1, 0}, at::kLong)));  // box pixels left out
  LabelScores scores(match->truth_classes() + 1);
  scores.add(p, t);
  // ground: I 2, U 3; void: I 1, U 1 (the box pixel predicted void is not scored) -> (2/3 + 1) / 2.
  EXPECT_NEAR(*scores.miou(), (2.0 / 3.0 + 1.0) / 2.0, 1e-12);
  // Per class: the classes the truth has (void, ground), with their pixels and predictions; the confusion matrix
  // counts truth x predicted (the lamp predicted on a ground pixel lands in column 4).
  const auto classes = scores.per_class();
  ASSERT_EQ(classes.size(), 2u);
  EXPECT_EQ(classes[0].id, 0);
  EXPECT_NEAR(classes[0].iou, 1.0, 1e-12);
  EXPECT_EQ(classes[1].id, 1);
  EXPECT_NEAR(classes[1].iou, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(classes[1].pixels, 3);
  EXPECT_EQ(classes[1].predicted, 2);
  EXPECT_EQ(scores.confusion()[1][2].item<int64_t>(), 1);
  FeatureEvalResult result;
  result.miou = scores.miou();
  result.per_class = classes;
  result.confusion = scores.confusion();
  const nlohmann::json json = result.to_json();
  EXPECT_EQ(json["per_class"][1]["pixels"], 3);
  EXPECT_EQ(json["confusion"][1][1], 2);
  EXPECT_EQ(json["confusion"].size(), 3u);
  EXPECT_EQ(match->truth_classes(), 2);
  EXPECT_NEAR(*scores.accuracy(), 3.0 / 4.0, 1e-12);
  EXPECT_FALSE(ClassMatch::by_name({}, {{0, "void"}}, {0}).has_value());  // unnamed classes: ids as they are
  // Another tool's spelling of the same names (case, spaces, separators) still matches; the lists keep its spelling.
  const auto other = ClassMatch::by_name({"void", "ground", "coffee_table"},
                                         {{0, "Void"}, {1, "Coffee Table"}, {2, " GROUND"}, {3, "Box"}}, {0, 1, 2, 3});
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->left_out, std::vector<std::string>{"Box"});
  EXPECT_TRUE(other->unknown.empty());
  EXPECT_TRUE(at::equal(other->predicted_to_truth, at::tensor({0, 2, 1}, at::kLong)));
}

TEST(ClassMatch, SixteenBitIdsSharedNamesAndUnnamedIds) {
  // Another tool's labels: 16-bit ids, two ids named "Sphere" (merged into one class), an id in the maps that
  // labels.json does not name (left out, reported by id). The scores stay over the scored classes only.
  const auto match = ClassMatch::by_name({"void", "ground", "sphere"},
                                         {{0, "void"}, {40000, "Sphere"}, {65535, "ground"}, {7, "sphere "}},
                                         {0, 7, 123, 40000, 65535});
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->truth_classes(), 3);
  EXPECT_EQ(match->names, (std::vector<std::string>{"void", "sphere ", "ground"}));  // first ids 0, 7, 65535
  EXPECT_EQ(match->merged, std::vector<std::string>{"sphere (ids 7, 40000)"});
  EXPECT_EQ(match->left_out, std::vector<std::string>{"id 123 (not in labels.json)"});
  EXPECT_TRUE(match->unknown.empty());
  const auto [p, t] = match->apply(at::tensor({2, 2, 1, 0, 0, 1}, at::kLong),
                                   at::tensor({40000, 7, 65535, 0, 123, 65535}, at::kLong));
  EXPECT_TRUE(at::equal(p, at::tensor({1, 1, 2, 0, 0, 2}, at::kLong)));
  EXPECT_TRUE(at::equal(t, at::tensor({1, 1, 2, 0, -1, 2}, at::kLong)));
  LabelScores scores(match->truth_classes() + 1);  // 4 x 4, not 65536 x 65536
  scores.add(p, t);
  EXPECT_NEAR(*scores.miou(), 1.0, 1e-12);
  EXPECT_EQ(scores.confusion().size(0), 4);
  // A model with two classes of one name: both predict that class.
  const auto twice = ClassMatch::by_name({"void", "Ground", "ground"}, {{0, "void"}, {3, "ground"}}, {0, 3});
  ASSERT_TRUE(twice.has_value());
  EXPECT_TRUE(at::equal(twice->predicted_to_truth, at::tensor({0, 1, 1}, at::kLong)));
  EXPECT_TRUE(twice->unknown.empty());
}

TEST(FeaturePca, ProjectsTheMainVariationToColour) {
  // Features vary along one direction left-to-right: the first PCA channel follows it.
  at::Tensor features = at::zeros({8, 4, 16});
  const at::Tensor ramp = at::linspace(-1, 1, 16);
  features[3] = ramp.expand({4, 16});
  features[5] = -2.0f * ramp.expand({4, 16});
  const FeaturePca pca(features);
  const Image image = pca.apply(features);
  ASSERT_EQ(image.width, 16);
  ASSERT_EQ(image.height, 4);
  const float left = image.at(0, 2, 0), right = image.at(15, 2, 0);
  EXPECT_GT(std::abs(right - left), 0.9f);
  EXPECT_THROW(pca.apply(at::zeros({7, 4, 16})), UsageError);
}

TEST(LabelColors, DistinctAndStable) {
  std::set<std::tuple<int, int, int>> seen;
  for (int id = 0; id < 32; ++id) {
    const Eigen::Vector3f c = label_color(id);
    seen.insert({static_cast<int>(c.x() * 255), static_cast<int>(c.y() * 255), static_cast<int>(c.z() * 255)});
  }
  EXPECT_EQ(seen.size(), 32u);
  EXPECT_TRUE(label_color(-1).isZero());
  const Image img = colorize_labels(at::tensor({0, 5, -1, 5}, at::kLong).view({2, 2}));
  EXPECT_EQ(img.at(1, 0, 0), img.at(1, 1, 0));
}

TEST(DistillRun, NamesAndPaths) {
  EXPECT_EQ(default_distill_name("labels:semantic"), "labels-semantic");
  EXPECT_EQ(default_distill_name("descriptor"), "descriptor");
  EXPECT_EQ(default_distill_name("sam:/models/sam_vit_b.pth"), "sam");
  EXPECT_EQ(default_distill_name("files:/data/my maps/"), "files-my_maps");
  EXPECT_EQ(distill_paths("run", "sam").root, std::filesystem::path("run/distill/sam"));
  EXPECT_THROW(distill_paths("run", "../escape"), UsageError);
  EXPECT_THROW(distill_paths("run", ""), UsageError);
  EXPECT_TRUE(list_distilled("/nonexistent-run").empty());
}

}  // namespace
}  // namespace semfield

#include "semfield/pipeline/instance_ap.h"

namespace semfield {
namespace {

// AP^0.75 against hand-computed precision-recall curves.
TEST(InstanceAp, HandComputedPrecisionRecallOverViews) {
  // View 1: truth 0 on pixels 0-3, 1 on 4-7. Predicted: 5 on 0-3 (IoU 1, score 0.9), 6 on 4-5 (IoU 0.5, 0.8), 7 on
  // 6-7 (IoU 0.5, 0.1). Sorted: TP, FP, FP of 2 true: precision 1, 1/2, 1/3 at recall 1/2 -> AP 0.5.
  InstanceAp ap(0.75);
  ap.add_view(at::tensor({5, 5, 5, 5, 6, 6, 7, 7}, at::kLong), at::tensor({.9f, .9f, .9f, .9f, .8f, .8f, .1f, .1f}),
              at::tensor({0, 0, 0, 0, 1, 1, 1, 1}, at::kLong));
  EXPECT_NEAR(ap.ap(), 0.5, 1e-9);
  // View 2: one true instance predicted exactly at score 0.95: TP, TP, FP, FP of 3: recall 1/3, 2/3 at precision 1.
  ap.add_view(at::tensor({0, 0, 0, 0}, at::kLong), at::full({4}, 0.95f), at::tensor({3, 3, 3, 3}, at::kLong));
  EXPECT_NEAR(ap.ap(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(ap.true_instances(), 3);
  EXPECT_EQ(ap.predictions(), 4);
  // The true instances as the matching left them: view 1's id 1 missed, its best IoU 0.5 (either half of it).
  const auto& list = ap.true_instance_list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].view, 0);
  EXPECT_EQ(list[0].id, 0);
  EXPECT_EQ(list[0].pixels, 4);
  EXPECT_TRUE(list[0].matched);
  EXPECT_NEAR(list[0].best_iou, 1.0, 1e-6);
  EXPECT_EQ(list[1].view, 0);
  EXPECT_EQ(list[1].id, 1);
  EXPECT_FALSE(list[1].matched);
  EXPECT_NEAR(list[1].best_iou, 0.5, 1e-6);
  EXPECT_EQ(list[2].view, 1);
  EXPECT_EQ(list[2].id, 3);
  EXPECT_TRUE(list[2].matched);
  EXPECT_NEAR(list[2].best_iou, 1.0, 1e-6);
  // A view without any prediction: its true instance is listed, missed, with best IoU 0.
  ap.add_view(at::full({4}, -1, at::kLong), at::zeros({4}), at::tensor({7, 7, -1, -1}, at::kLong));
  ASSERT_EQ(ap.true_instance_list().size(), 4u);
  EXPECT_EQ(ap.true_instance_list()[3].view, 2);
  EXPECT_EQ(ap.true_instance_list()[3].pixels, 2);
  EXPECT_FALSE(ap.true_instance_list()[3].matched);
  EXPECT_EQ(ap.true_instance_list()[3].best_iou, 0.0);
  // A view with predictions but no truth: nothing listed, its view index still counted (the next view is 4).
  ap.add_view(at::tensor({1, 1}, at::kLong), at::full({2}, 0.5f), at::full({2}, -1, at::kLong));
  ap.add_view(at::tensor({2}, at::kLong), at::full({1}, 0.5f), at::tensor({9}, at::kLong));
  ASSERT_EQ(ap.true_instance_list().size(), 5u);
  EXPECT_EQ(ap.true_instance_list()[4].view, 4);
  EXPECT_TRUE(ap.true_instance_list()[4].matched);
  // Unlabelled truth pixels (-1) count for neither side; logits give ids and confidences.
  InstanceAp from_logits(0.75);
  const at::Tensor logits = at::tensor({5.f, 5.f, -5.f, -5.f, -5.f, -5.f, 5.f, 5.f}).view({2, 1, 4});
  from_logits.add_logits(logits, at::tensor({2, 2, 4, -1}, at::kLong).view({1, 4}));
  // Both found: instance 4's prediction covers pixels 2-3, but pixel 3 is unlabelled, so its IoU is 1.
  EXPECT_NEAR(from_logits.ap(), 1.0, 1e-9);
  EXPECT_EQ(from_logits.true_instances(), 2);
}

}  // namespace
}  // namespace semfield

#include "semfield/data/scene.h"
#include "support/small_scenes.h"
#include "support/test_support.h"

namespace semfield {
namespace {

TEST(TeacherImage, AViewLoadedWithoutPixelsIsDecodedAsTheFullLoadHasIt) {
  // distill loads only the test split's pixels for a foundation-model teacher and decodes each training view for
  // its teacher pass: the teacher must see the same image either way (downscale and background included).
  test::TempDir dir;
  const auto root = test::write_small_scenes(dir.path() / "scene", 1, 6, 32, 5);
  for (const int downscale : {1, 2}) {
    LoadOptions full, partial;
    full.downscale = partial.downscale = downscale;
    partial.pixels_only_for = Split::Test;
    const Scene a = load_scene(root, full), b = load_scene(root, partial);
    ASSERT_EQ(a.views.size(), b.views.size());
    int decoded_on_demand = 0;
    for (size_t i = 0; i < a.views.size(); ++i) {
      if (b.views[i].rgb.empty()) ++decoded_on_demand;
      const Eigen::Vector3f white(1, 1, 1);
      EXPECT_TRUE(at::equal(teacher_image(a.views[i], white), teacher_image(b.views[i], white)))
          << a.views[i].name << " downscale " << downscale;
    }
    EXPECT_GT(decoded_on_demand, 0);
  }
}

}  // namespace
}  // namespace semfield
