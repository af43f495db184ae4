// End to end: train a small scene, distill its instance labels and the built-in descriptor into fields,
// render them, evaluate them, and reject bad teacher inputs.
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "semfield/core/file_util.h"
#include "semfield/data/scene.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/feature_evaluator.h"
#include "semfield/teachers/descriptor_teacher.h"
#include "support/test_support.h"
#include "support/trained_scene.h"

namespace fs = std::filesystem;
using semfield::test::quoted;
using semfield::test::read_json;
using semfield::test::run_cli;
using ::testing::HasSubstr;

namespace {

// Mean squared deviation of the descriptor from its per-channel mean on the held-out views: the error of a
// field that predicts the mean feature everywhere.
double descriptor_variance(const fs::path& scene_dir) {
  const semfield::Scene scene = semfield::load_scene(scene_dir);
  const semfield::DescriptorTeacher teacher;
  std::vector<at::Tensor> cells;
  for (const semfield::View* v : scene.split(semfield::Split::Test)) {
    const at::Tensor m = teacher.compute({semfield::teacher_image(*v, Eigen::Vector3f::Ones()), v})[0];
    cells.push_back(m.reshape({m.size(0), -1}).t());
  }
  const at::Tensor all = at::cat(cells);
  return (all - all.mean(0)).pow(2).mean().item<double>();
}

// One test, run in sequence on a copy of the trained scene (support/trained_scene.h), whose labels and descriptor
// fields the fixture distilled by step count.
TEST(TrainedSceneDistill, LabelsAndDescriptorFieldsEndToEnd) {
  semfield::test::TempDir dir;
  const semfield::test::TrainedScene trained = semfield::test::trained_scene(dir);
  const fs::path scene = trained.scene, run = trained.run;
  semfield::test::CommandResult r;

  {
    SCOPED_TRACE("label field");
    const auto m = read_json(run / "distill" / "labels-instance" / "eval" / "metrics.json");
    EXPECT_EQ(m["step"].get<int64_t>(), semfield::test::label_steps());
    // Ground truth instance maps of the 4 held-out views (6 classes: nothing, ground, 4 objects). Predicting
    // the majority class scores an mIoU below 0.2; the fixture's 200 steps measured mIoU 0.961 and accuracy 0.991
    // (100 steps: 0.940, 0.987).
    EXPECT_GT(m["miou"].get<double>(), 0.91) << m.dump();
    EXPECT_GT(m["accuracy"].get<double>(), 0.98) << m.dump();
    EXPECT_TRUE(fs::exists(run / "distill" / "labels-instance" / "eval" / "renders" / "r_24_labels-instance.png"));
  }

  {
    SCOPED_TRACE("descriptor field with camera augmentation and the cache");
    const auto m = read_json(run / "distill" / "descriptor" / "eval" / "metrics.json");
    EXPECT_EQ(m["step"].get<int64_t>(), semfield::test::descriptor_steps());
    const double baseline = descriptor_variance(scene);
    // A field that learned nothing but the mean scores the baseline; the rendered descriptor must explain most of
    // the variance of the held-out views' descriptors: the fixture measured 0.061 of the baseline.
    std::printf("descriptor field: held-out feature MSE %.3g = %.3f of the mean-feature baseline\n",
                m["feature_mse"].get<double>(), m["feature_mse"].get<double>() / baseline);
    EXPECT_LT(m["feature_mse"].get<double>(), 0.09 * baseline) << m.dump() << " baseline " << baseline;
    EXPECT_THAT(semfield::read_file_text(trained.logs / "descriptor.log"), HasSubstr("cached augmented views"));
  }

  {
    SCOPED_TRACE("a foundation-model teacher (the reduced random-weight DINO of the golden tests)");
    const fs::path weights = semfield::test::test_data_dir() / "golden" / "dino";
    r = run_cli("distill --run '" + run.string() + "' --teacher dino:'" + weights.string() +
                "' --steps 60 --no-augment");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto m = read_json(run / "distill" / "dino" / "eval" / "metrics.json");
    EXPECT_TRUE(m.contains("feature_mse")) << m.dump();
  }

  {
    SCOPED_TRACE("render and eval of distilled fields");
    const fs::path out = dir / "renders";
    r = run_cli("render --run '" + run.string() + "' --split test --out '" + out.string() + "' --features --raw");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(out / "r_24_labels-instance.png"));
    EXPECT_TRUE(fs::exists(out / "r_24_labels-instance_ids.png"));
    EXPECT_TRUE(fs::exists(out / "r_24_descriptor_pca.png"));
    const semfield::Array raw = semfield::read_npy(out / "r_24_descriptor.npy");
    EXPECT_EQ(raw.shape, (std::vector<int64_t>{semfield::DescriptorTeacher::kChannels, 32, 32}));
    r = run_cli("eval --run '" + run.string() + "' --no-images");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto m = read_json(run / "eval" / "metrics.json");
    EXPECT_TRUE(m.contains("psnr"));
    EXPECT_GT(m["miou"].get<double>(), 0.9) << m.dump();
    EXPECT_TRUE(m.contains("feature_mse"));
    EXPECT_EQ(m["distilled"].size(), 3u);
    // --semantic on a per-scene run: its label field's 8-bit ids, a colour picture, classes.json.
    const fs::path sem = dir / "semantic";
    r = run_cli("render --run '" + run.string() + "' --split test --out '" + sem.string() + "' --semantic");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(sem / "r_24_semantic_color.png"));
    const semfield::Image ids = semfield::read_image(sem / "r_24_semantic.png", semfield::ImageRange::Raw);
    EXPECT_EQ(ids.channels, 1);
    const auto classes = read_json(sem / "classes.json");
    EXPECT_GE(classes.at("classes").size(), 2u);
    float largest = 0;
    for (float v : ids.pixels) largest = std::max(largest, v);
    EXPECT_GT(largest, 0.0f);  // objects, not only class 0
    EXPECT_LT(largest, static_cast<float>(classes.at("classes").size()));
    EXPECT_FALSE(fs::exists(sem / "r_24_descriptor_pca.png"));  // only the label field
    r = run_cli("render --run '" + run.string() + "' --split test --out '" + out.string() + "' --field nope");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("it has: descriptor, dino, labels-instance"));
  }

  {
    SCOPED_TRACE("bad teachers");
    r = run_cli("distill --run '" + run.string() + "' --teacher files:'" + (dir / "none").string() + "'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("feature folder not found"));
    fs::create_directories(dir / "maps");
    semfield::write_npy(dir / "maps" / "r_0.npy", semfield::tensor_to_array(at::zeros({8, 16, 16})));
    semfield::write_npy(dir / "maps" / "r_1.npy", semfield::tensor_to_array(at::zeros({8, 16, 12})));
    r = run_cli("distill --run '" + run.string() + "' --teacher files:'" + (dir / "maps").string() + "' --steps 5");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("r_1.npy"));
    EXPECT_THAT(r.output, HasSubstr("expected [8, 16, 16]"));
    r = run_cli("distill --run '" + run.string() + "' --teacher wat");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("unknown teacher"));
    r = run_cli("distill --run '" + run.string() + "' --teacher labels:semantic --label-noise 2");
    EXPECT_NE(r.exit_code, 0);
  }
}

}  // namespace
