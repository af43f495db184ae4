// The simulated 2D segmenter (a measuring instrument for GNeSF-style methods): scoring, each error it makes,
// reproducibility, and calibration to a requested mIoU on maps it was and was not calibrated on.
#include "semfield/teachers/simulated_segmenter.h"

#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/data/scene.h"
#include "semfield/data/synth/synth_writer.h"
#include "semfield/teachers/label_teacher.h"
#include "support/small_scenes.h"
#include "support/test_support.h"

namespace semfield {
namespace {

/// A procedural "view": background class 0, a floor band of class 1, and a few rectangles and discs of classes 2..6.
LabelMap toy_view(int side, uint64_t seed) {
  LabelMap m;
  m.width = m.height = side;
  m.ids.assign(static_cast<size_t>(side) * side, 0);
  for (int y = side * 2 / 3; y < side; ++y)
    for (int x = 0; x < side; ++x) m.ids[static_cast<size_t>(y) * side + x] = 1;
  SplitMix64 rng(seed);
  for (int k = 0; k < 6; ++k) {
    const int32_t id = 2 + rng.index(5);
    const double cx = rng.uniform(0.15, 0.85) * side, cy = rng.uniform(0.15, 0.85) * side;
    const double r = rng.uniform(0.05, 0.2) * side;
    const bool disc = rng.uniform() < 0.5;
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        if (disc ? dx * dx + dy * dy <= r * r : std::abs(dx) <= r && std::abs(dy) <= 0.7 * r)
          m.ids[static_cast<size_t>(y) * side + x] = id;
      }
  }
  return m;
}

TEST(SegmentationScore, HandComputed) {
  // truth 0 0 1 1 / prediction 0 1 1 1, one unlabelled truth pixel ignored:
  // class 0: I 1, U 2 -> 0.5; class 1: I 2, U 3 -> 2/3. mIoU 7/12, accuracy 3/4.
  const LabelMap truth{5, 1, {0, 0, 1, 1, -1}}, pred{5, 1, {0, 1, 1, 1, 0}};
  const SegmentationScore s = score_segmentation({pred}, {truth});
  EXPECT_NEAR(s.miou, 7.0 / 12.0, 1e-12);
  EXPECT_NEAR(s.accuracy, 0.75, 1e-12);
  EXPECT_EQ(s.classes, 2);
  EXPECT_THROW(score_segmentation({pred}, {}), UsageError);
}

TEST(SimulatedSegmenter, SeverityZeroIsTheTruthAndDrawsAreReproducible) {
  const LabelMap truth = toy_view(64, 1);
  const std::vector<int32_t> classes = {0, 1, 2, 3, 4, 5, 6};
  EXPECT_EQ(simulate_segmentation(truth, classes, 0.0, 3, 0).ids, truth.ids);
  const LabelMap a = simulate_segmentation(truth, classes, 0.5, 3, 7), b = simulate_segmentation(truth, classes, 0.5, 3, 7);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(simulate_segmentation(truth, classes, 0.5, 3, 8).ids, a.ids);  // another view's draws
  EXPECT_NE(a.ids, truth.ids);
  EXPECT_THROW(simulate_segmentation(truth, classes, -1.0, 3, 0), UsageError);
}

TEST(SimulatedSegmenter, SmallObjectsVanishIntoTheirSurroundings) {
  LabelMap truth{64, 64, std::vector<int32_t>(64 * 64, 0)};
  for (int y = 30; y < 33; ++y)
    for (int x = 30; x < 33; ++x) truth.ids[static_cast<size_t>(y) * 64 + x] = 5;  // 9 px < 2 % x 0.2 of 4096
  const LabelMap out = simulate_segmentation(truth, {0, 5}, 0.2, 1, 0);
  int fives = 0;
  for (int32_t id : out.ids) fives += id == 5;
  // Only spurious blobs (a single one at this severity, if any) may bring class 5 back, never at the old square.
  EXPECT_NE(out.at(31, 31), 5);
  EXPECT_LT(fives, 64 * 64 / 20);
}

TEST(SimulatedSegmenter, ConfusionsAreConsistentAcrossViews) {
  // At severity >= 1 / 0.15 every segment of >= 16 px takes its class's partner: the same partner in every view.
  const std::vector<int32_t> classes = {0, 1, 2, 3, 4, 5, 6};
  std::map<int32_t, std::set<int32_t>> seen_as;
  for (uint64_t v = 0; v < 6; ++v) {
    const LabelMap truth = toy_view(96, 10 + v);
    const LabelMap out = simulate_segmentation(truth, classes, 7.0, 4, v);
    // The centre of the floor band (class 1) is far from boundaries and blobs rarely cover all of it: its mode.
    std::map<int32_t, int> votes;
    for (int x = 0; x < 96; ++x) ++votes[out.at(x, 90)];
    int32_t mode = -1;
    int best = 0;
    for (const auto& [id, n] : votes)
      if (n > best) best = n, mode = id;
    seen_as[1].insert(mode);
  }
  EXPECT_EQ(seen_as[1].size(), 1u);
  EXPECT_NE(*seen_as[1].begin(), 1);
}

TEST(SimulatedSegmenter, ReachesTheRequestedMiouOnViewsItWasNotCalibratedOn) {
  for (const double target : {0.75, 0.6}) {
    std::vector<LabelMap> calib, held_out;
    for (uint64_t v = 0; v < 32; ++v) calib.push_back(toy_view(96, 100 + v));
    for (uint64_t v = 0; v < 32; ++v) held_out.push_back(toy_view(96, 500 + v));
    const SimulatedSegmenter seg(calib, target, 9);
    EXPECT_NEAR(seg.achieved_miou(), target, 0.01) << target;
    std::vector<LabelMap> out;
    for (size_t v = 0; v < held_out.size(); ++v) out.push_back(seg.segment(held_out[v], 1000 + v));
    const double miou = score_segmentation(out, held_out).miou;
    EXPECT_NEAR(miou, target, 0.03) << target << " at severity " << seg.severity();
  }
  EXPECT_THROW(SimulatedSegmenter({toy_view(32, 1)}, 1.5, 0), UsageError);
}

TEST(SimulatedSegmenter, CalibratedOnItsOwnDrawsTheWrittenMapsHitTheTarget) {
  std::vector<LabelMap> views;
  std::vector<uint64_t> keys;
  for (uint64_t v = 0; v < 24; ++v) {
    views.push_back(toy_view(96, 300 + v));
    keys.push_back(7 * v + 1);
  }
  const SimulatedSegmenter seg(views, 0.7, 5, keys);
  std::vector<LabelMap> out;
  for (size_t v = 0; v < views.size(); ++v) out.push_back(seg.segment(views[v], keys[v]));
  const double realised = score_segmentation(out, views).miou;
  EXPECT_NEAR(realised, seg.achieved_miou(), 1e-9);  // the very draws it calibrated on
  EXPECT_NEAR(realised, 0.7, 0.01);
  EXPECT_THROW(SimulatedSegmenter(views, 0.7, 5, {1, 2}), UsageError);  // one key per view
}

TEST(SimulatedSegmenter, CommandWritesMapsTheLabelsTeacherReads) {
  // `semfield simulate-segmenter` on a generated scene: one 16-bit map per view named like it, a report, and the
  // folder is a labels:DIR teacher for that scene.
  test::TempDir tmp;
  test::write_small_scenes(tmp / "scene", 1, 12, 48, 8300);
  const auto maps = tmp / "maps";
  const auto r = test::run_cli("simulate-segmenter --data " + test::quoted(tmp / "scene") + " --out " +
                               test::quoted(maps) + " --miou 0.7 --seed 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json report = test::read_json(maps / "simulated_segmenter.json");
  // Calibrated on the maps it wrote for the training views: those are at the target.
  EXPECT_NEAR(report.at("calibration_miou").get<double>(), 0.7, 0.02);
  EXPECT_NEAR(report.at("miou_train").get<double>(), report.at("calibration_miou").get<double>(), 1e-9);
  const Scene scene = load_scene(tmp / "scene");
  for (const View& v : scene.views) EXPECT_TRUE(std::filesystem::exists(maps / (v.name + ".png"))) << v.name;
  const auto teacher = make_label_teacher("labels:" + maps.string(), scene);
  EXPECT_TRUE(teacher->covers(scene.views.front()));
  const auto bad = test::run_cli("simulate-segmenter --data " + test::quoted(tmp / "scene") + " --out " +
                                 test::quoted(maps) + " --gt depth");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--gt"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace semfield
