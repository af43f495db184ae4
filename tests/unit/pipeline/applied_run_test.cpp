// Applied runs: a generalizable model bound to an unseen scene (`semfield apply`) is a run folder that load_run,
// eval, render and mesh read exactly like a per-scene run; `semfield models` lists model files.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/data/synth/synth_writer.h"
#include "semfield/models/gpnerf/gpnerf_config.h"
#include "semfield/models/ibr/ibr_config.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/pipeline/run_folder.h"
#include "support/small_models.h"
#include "support/test_support.h"

namespace semfield {
namespace {

struct AppliedFixture {
  test::TempDir tmp;
  std::filesystem::path scene, models, model;
  AppliedFixture() {
    SynthConfig config;
    config.n_views = 10;
    config.resolution = 24;
    config.n_objects = 2;
    config.seed = 8200;
    write_synth_dataset(config, tmp / "scene");
    scene = tmp / "scene";
    models = tmp / "models";
    std::filesystem::create_directories(models);
    const auto trainable = create_trainable_model("ibr", to_json(test::small_ibr_config()), "test");
    ModelFile m;
    m.name = "tiny-ibr";
    m.type = "ibr";
    m.config = trainable->config_json();
    m.weights = trainable->state();
    m.info = {{"trained_on", {{"description", "nothing (untrained)"}}}};
    model = models / "tiny-ibr.safetensors";
    write_model_file(model, m);
  }
};

TEST(AppliedRun, ApplyEvalRenderAndMeshThroughTheCli) {
  AppliedFixture f;
  const auto listed = test::run_cli("models --json --dir " + test::quoted(f.models));
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const auto json = nlohmann::json::parse(listed.output);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["name"], "tiny-ibr");
  EXPECT_EQ(json[0]["type"], "ibr");

  const auto run = f.tmp / "run";
  const auto applied = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                     " --out " + test::quoted(run) + " --source-views 4");
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_FALSE(std::filesystem::exists(run / "weights.safetensors"));  // the weights stay with the model

  const LoadedRun loaded = load_run(run);
  EXPECT_EQ(loaded.model->type(), "ibr");
  ASSERT_TRUE(loaded.applied.has_value());
  EXPECT_EQ(loaded.applied->source_views, 4);
  EXPECT_EQ(loaded.cameras.size(), 10u + 4u);

  const auto eval = test::run_cli("eval --run " + test::quoted(run) + " --no-images");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto metrics = test::read_json(run / "eval" / "metrics.json");
  ASSERT_TRUE(metrics.contains("psnr"));
  EXPECT_GT(metrics["psnr"].get<double>(), 3.0);  // an untrained model: any finite value
  EXPECT_EQ(metrics["views"].size(), 4u);

  const auto render = test::run_cli("render --run " + test::quoted(run) + " --split test --out " +
                                    test::quoted(f.tmp / "renders"));
  ASSERT_EQ(render.exit_code, 0) << render.output;
  const auto mesh = test::run_cli("mesh --run " + test::quoted(run) + " --resolution 16 --threshold 0.5 --out " +
                                  test::quoted(f.tmp / "scene.ply"));
  EXPECT_TRUE(mesh.exit_code == 0 || mesh.output.find("no surface") != std::string::npos) << mesh.output;
}

TEST(AppliedRun, Bf16LayerPrecisionFromTheCommandLine) {
  // `--layer-precision bf16` reaches the fused kernels through any subcommand and scores within a hair of fp32;
  // anything but fp32 / bf16 is refused naming the option.
  AppliedFixture f;
  const auto run = f.tmp / "run";
  ASSERT_EQ(test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) + " --out " +
                          test::quoted(run) + " --source-views 4").exit_code,
            0);
  double psnr[2];
  for (int i = 0; i < 2; ++i) {
    const auto eval = test::run_cli(std::string("--layer-precision ") + (i == 0 ? "fp32" : "bf16") + " eval --run " +
                                    test::quoted(run) + " --no-images");
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    psnr[i] = test::read_json(run / "eval" / "metrics.json")["psnr"].get<double>();
  }
  EXPECT_NEAR(psnr[1], psnr[0], 0.05);
  EXPECT_NE(psnr[1], psnr[0]);  // the option reached the kernels
  const auto bad = test::run_cli("--layer-precision fp16 eval --run " + test::quoted(run) + " --no-images");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--layer-precision"), std::string::npos) << bad.output;
}

TEST(AppliedRun, ModelConfigOverridesTheModelsKeysInTheRunsRenders) {
  // `apply --model-config`: kept in RUN/config.json and merged over the model's config each time the run is loaded;
  // keys the model type does not know, or a value it refuses, fail at apply time naming them.
  AppliedFixture f;
  const auto plain = f.tmp / "plain", more = f.tmp / "more";
  const std::string base = "apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                           " --source-views 3 --out ";
  ASSERT_EQ(test::run_cli(base + test::quoted(plain)).exit_code, 0);
  const auto applied = test::run_cli(base + test::quoted(more) + " --model-config '{\"n_coarse\": 12, \"n_fine\": 6}'");
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_EQ(test::read_json(more / "config.json")["model_config"], (nlohmann::json{{"n_coarse", 12}, {"n_fine", 6}}));
  EXPECT_FALSE(test::read_json(plain / "config.json").contains("model_config"));
  // The same weights under the changed config.
  const LoadedRun a = load_run(plain), b = load_run(more);
  EXPECT_EQ(a.model->config_json()["n_coarse"], 8);
  EXPECT_EQ(b.model->config_json()["n_coarse"], 12);
  EXPECT_EQ(b.model->config_json()["n_fine"], 6);
  EXPECT_EQ(b.model->config_json()["view_hidden"], a.model->config_json()["view_hidden"]);
  const auto sa = a.model->state(), sb = b.model->state();
  for (const auto& [name, t] : sa) EXPECT_TRUE(at::equal(t, sb.at(name))) << name;
  for (const char* bad : {"'{\"n_coarsee\": 12}'", "'{\"n_coarse\": 1}'", "'{\"view_hidden\": 24}'", "'[12]'"}) {
    const auto r = test::run_cli(base + test::quoted(f.tmp / "bad") + " --model-config " + bad);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find("--model-config"), std::string::npos) << r.output;
  }
}

TEST(AppliedRun, ModelConfigAfterFineTuningAndKeysThatWouldDropWeights) {
  AppliedFixture f;
  // A fine-tuned run: the keys replace the fine-tuned file's config when the run is loaded, over its own weights.
  const auto run = f.tmp / "tuned";
  const auto applied = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                     " --out " + test::quoted(run) + " --finetune-steps 2 --finetune-rays 64" +
                                     " --model-config '{\"n_coarse\": 12}'");
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  const LoadedRun loaded = load_run(run);
  EXPECT_EQ(loaded.model->config_json()["n_coarse"], 12);
  const ModelFile tuned = read_model_file(run / "weights.safetensors");
  EXPECT_EQ(tuned.config["n_coarse"], 8);  // fine-tuning itself kept the model's config
  const auto state = loaded.model->state();
  for (const auto& [name, t] : tuned.weights) EXPECT_TRUE(at::equal(t, state.at(name))) << name;
  // With --finetune-config the weights are checked against the keys once fine-tuned: a shape they change is refused.
  const auto reshaped = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                      " --out " + test::quoted(f.tmp / "tuned2") +
                                      " --finetune-steps 2 --finetune-rays 64 --finetune-config '{\"n_fine\": 4}'" +
                                      " --model-config '{\"view_hidden\": 24}'");
  EXPECT_NE(reshaped.exit_code, 0);
  EXPECT_NE(reshaped.output.find("--model-config"), std::string::npos) << reshaped.output;
  // A key that removes a part of the network (here GP-NeRF's instance head) would drop its weights unused: refused.
  GpnerfConfig gc = test::small_gpnerf_config();
  gc.instance_slots = 4;
  const auto gp = create_trainable_model("gp-nerf", to_json(gc), "test");
  ModelFile m;
  m.name = "tiny-gp";
  m.type = "gp-nerf";
  m.config = gp->config_json();
  m.weights = gp->state();
  write_model_file(f.models / "tiny-gp.safetensors", m);
  const auto dropped = test::run_cli("apply --model " + test::quoted(f.models / "tiny-gp.safetensors") + " --data " +
                                     test::quoted(f.scene) + " --out " + test::quoted(f.tmp / "gp") +
                                     " --model-config '{\"instance_slots\": 0}'");
  EXPECT_NE(dropped.exit_code, 0);
  EXPECT_NE(dropped.output.find("instance_head"), std::string::npos) << dropped.output;
}

TEST(AppliedRun, FineTuningWritesTheRunsOwnWeights) {
  AppliedFixture f;
  const auto run = f.tmp / "run";
  const auto applied = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                     " --out " + test::quoted(run) +
                                     " --finetune-steps 3 --finetune-lr 1e-3 --finetune-rays 64");
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  ASSERT_TRUE(std::filesystem::exists(run / "weights.safetensors"));
  const ModelFile original = read_model_file(f.model), tuned = read_model_file(run / "weights.safetensors");
  double moved = 0;
  for (const auto& [name, t] : original.weights)
    moved = std::max(moved, (t - tuned.weights.at(name)).abs().max().item<double>());
  EXPECT_GT(moved, 0.0);
  const LoadedRun loaded = load_run(run);
  EXPECT_EQ(loaded.progress.step, 3);
  const auto state = loaded.model->state();
  for (const auto& [name, t] : tuned.weights) EXPECT_TRUE(at::equal(t, state.at(name))) << name;
}

TEST(AppliedRun, ClearErrors) {
  AppliedFixture f;
  const auto missing = test::run_cli("apply --model nosuchmodel --data " + test::quoted(f.scene) + " --out " +
                                     test::quoted(f.tmp / "run"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("nosuchmodel"), std::string::npos) << missing.output;
  // A run folder whose scene has gone: an error naming the folder, not a crash.
  const auto run = f.tmp / "run2";
  ASSERT_EQ(test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) + " --out " +
                          test::quoted(run))
                .exit_code,
            0);
  std::filesystem::rename(f.scene, f.tmp / "moved");
  const auto eval = test::run_cli("eval --run " + test::quoted(run));
  EXPECT_NE(eval.exit_code, 0);
  EXPECT_NE(eval.output.find("scene"), std::string::npos) << eval.output;
}

}  // namespace
}  // namespace semfield
