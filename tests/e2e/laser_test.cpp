// End to end: Laser on the trained fixture scene with the simulated open-vocabulary teacher — `simulate-clip`,
// `distill --teacher files:DIR --laser on`, the class-list query (8-bit class maps per view, 3D point labels, 3D-OVS
// scores), which must beat the raw teacher's per-pixel arg-max; and clear errors for inputs that do not fit.
#include <filesystem>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "semfield/core/file_util.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "support/test_support.h"
#include "support/trained_scene.h"

namespace fs = std::filesystem;
using semfield::test::quoted;
using semfield::test::read_json;
using semfield::test::run_cli;
using ::testing::HasSubstr;

namespace {

TEST(LaserEndToEnd, ClassMapsBeatTheRawTeacherAndBadInputsFailClearly) {
  semfield::test::TempDir dir;
  const semfield::test::TrainedScene trained = semfield::test::trained_scene(dir);
  const fs::path scene = trained.scene, run = trained.run, clip = dir.path() / "clip";
  semfield::test::CommandResult r = run_cli("simulate-clip --data " + quoted(scene) + " --out " + quoted(clip));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto report = read_json(clip / "simulated_clip.json");
  const double teacher_miou = report["teacher_miou_test"].get<double>();
  std::string classes;
  const auto class_file = read_json(clip / "classes.json");
  for (const auto& name : class_file["classes"]) classes += (classes.empty() ? "" : ",") + name.get<std::string>();
  const int64_t n_classes = static_cast<int64_t>(report["classes"].size());
  ASSERT_GE(n_classes, 3) << report.dump();
  EXPECT_TRUE(fs::exists(clip / "text_embeddings.npy"));
  EXPECT_TRUE(fs::exists(clip / "r_0.npy"));

  // Laser reads the class list and text embeddings beside the maps. Every module on (the defaults switch the adapter,
  // attention and label volume off), 300 steps of 1,024 rays.
  const fs::path all_modules = dir.path() / "laser_all.json";
  semfield::write_file_atomic(all_modules, R"({"laser": {"enabled": true, "adapter": true, "attention": true, "label_volume": true}})");
  r = run_cli("distill --run " + quoted(run) + " --teacher files:" + quoted(clip) + " --config " + quoted(all_modules) +
              " --laser on --steps 300 --rays 1024 --name laser");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("label volume rank"));

  const fs::path out = dir.path() / "classes";
  const fs::path points = dir.path() / "points.npy";
  semfield::write_npy(points, semfield::tensor_to_array(at::tensor({0.0f, 0.0f, 0.0f, 0.3f, -0.2f, 0.1f}).view({2, 3})));
  r = run_cli("query --run " + quoted(run) + " --classes '" + classes + "' --views test --gt --points " +
              quoted(points) + " --out " + quoted(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = read_json(out / "query.json");
  const double miou = summary["score"]["miou"].get<double>();
  std::printf("Laser class maps on the fixture's test views: mIoU %.3f; raw teacher arg-max %.3f\n", miou, teacher_miou);
  // Measured: Laser 0.827 (0.787 with the code's class targets from the adapted tokens), the plain field (--laser off,
  // same steps) 0.336, the raw teacher 0.290.
  EXPECT_GT(miou, 0.76) << summary.dump();
  EXPECT_GT(miou, teacher_miou + 0.3);
  EXPECT_TRUE(summary["label_volume"].get<bool>());
  // One 8-bit map per test view, named like it, holding 0..K.
  const semfield::Image map = semfield::read_image(out / "r_24.png", semfield::ImageRange::Raw);
  EXPECT_EQ(map.channels, 1);
  float top = 0;
  for (float v : map.pixels) top = std::max(top, v);
  EXPECT_GE(top, 1.0f);
  EXPECT_LE(top, static_cast<float>(n_classes));
  const at::Tensor labels = semfield::array_to_tensor(semfield::read_npy(out / "points_labels.npy"));
  ASSERT_EQ(labels.numel(), 2);
  EXPECT_GE(labels.min().item<int64_t>(), 1);
  EXPECT_LE(labels.max().item<int64_t>(), n_classes);

  // The default Laser (text augmentation only) through the same query path.
  r = run_cli("distill --run " + quoted(run) + " --teacher files:" + quoted(clip) +
              " --laser on --steps 300 --rays 1024 --name laser-default");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("query --run " + quoted(run) + " --field laser-default --classes '" + classes + "' --views test --gt --out " +
              quoted(dir.path() / "classes-default"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto default_summary = read_json(dir.path() / "classes-default" / "query.json");
  const double default_miou = default_summary["score"]["miou"].get<double>();
  std::printf("default Laser (text augmentation): mIoU %.3f\n", default_miou);
  EXPECT_FALSE(default_summary["label_volume"].get<bool>());
  // Measured 0.865.
  EXPECT_GT(default_miou, 0.78) << default_summary.dump();
  EXPECT_GT(default_miou, teacher_miou + 0.3);

  // Errors name what is wrong.
  r = run_cli("query --run " + quoted(run) + " --classes sofa,lamp --views test --out " + quoted(dir.path() / "x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--text-embeddings"));
  r = run_cli("query --run " + quoted(run) + " --classes a,b --text-embeddings " + quoted(clip / "text_embeddings.npy") +
              " --views test --out " + quoted(dir.path() / "x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("text_embeddings.npy"));
  r = run_cli("distill --run " + quoted(run) + " --teacher files:" + quoted(clip) +
              " --laser on --classes a,b --steps 1 --name bad");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--text-embeddings"));
  r = run_cli("distill --run " + quoted(run) + " --teacher labels:semantic --laser on --steps 1 --name bad2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("one-scale feature teacher"));
}

}  // namespace
