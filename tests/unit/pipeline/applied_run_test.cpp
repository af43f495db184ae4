// Applied runs: a generalizable model bound to an unseen scene (`semfield apply`) is a run folder that load_run,
// eval, render, mesh, segment and the viewer read exactly like a per-scene run; `semfield models` lists model files.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/data/synth/synth_writer.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/models/gpnerf/gpnerf_config.h"
#include "semfield/models/ibr/ibr_config.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/io/image.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_output_cache.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/segmenter.h"
#include "semfield/serve/viewer_scene.h"
#include "support/small_models.h"
#include "support/small_scenes.h"
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
  // The scene the model was bound to, as load_run_scene loads it (the run's frame, every split's pixels).
  ASSERT_NE(loaded.scene, nullptr);
  const Scene again = load_run_scene(loaded);
  ASSERT_EQ(loaded.scene->views.size(), again.views.size());
  for (size_t i = 0; i < again.views.size(); ++i) {
    const View &held = loaded.scene->views[i], &v = again.views[i];
    EXPECT_EQ(held.name, v.name);
    EXPECT_EQ(held.split, v.split) << v.name;
    EXPECT_TRUE(held.camera.c2w.isApprox(v.camera.c2w)) << v.name;
    EXPECT_FALSE(held.rgb.empty()) << v.name;
    // The extras (measure_instance_head reads the instance maps of test and training views).
    EXPECT_EQ(held.instance.has_value(), v.instance.has_value()) << v.name;
    EXPECT_EQ(held.semantic.has_value(), v.semantic.has_value()) << v.name;
    EXPECT_EQ(held.depth.has_value(), v.depth.has_value()) << v.name;
  }
  EXPECT_TRUE(again.views.front().instance.has_value());  // the fixture's scene has instance maps
  // run_scene (eval, distill, the demo, apply's measure) hands out the held scene for the run's own data folder, however
  // it is spelled and whatever split it asks pixels for, and loads any other folder.
  EXPECT_EQ(run_scene(loaded).get(), loaded.scene.get());
  EXPECT_EQ(run_scene(loaded, f.scene / "." / "", Split::Test).get(), loaded.scene.get());
  const auto copy = f.tmp / "copy";
  std::filesystem::copy(f.scene, copy, std::filesystem::copy_options::recursive);
  const std::shared_ptr<const Scene> other = run_scene(loaded, copy, Split::Test);
  EXPECT_NE(other.get(), loaded.scene.get());
  ASSERT_EQ(other->views.size(), again.views.size());
  for (size_t i = 0; i < again.views.size(); ++i) {
    EXPECT_TRUE(other->views[i].camera.c2w.isApprox(again.views[i].camera.c2w)) << again.views[i].name;
    EXPECT_EQ(other->views[i].rgb.empty(), other->views[i].split != Split::Test) << again.views[i].name;
  }

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

TEST(AppliedRun, HeadStageIsRefusedForAModelWithoutOne) {
  // apply --finetune-head-steps needs a model type with a head stage (CorpusModel::head_stage_config): ibr has none,
  // and says so before any fine-tuning step.
  AppliedFixture f;
  const auto refused = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                     " --out " + test::quoted(f.tmp / "run") +
                                     " --source-views 4 --finetune-steps 2 --finetune-head-steps 2");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("has no head stage"), std::string::npos) << refused.output;
  EXPECT_FALSE(std::filesystem::exists(f.tmp / "run"));  // refused before the run folder is made
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
  EXPECT_EQ(tuned.info.at("trained_on"), original.info.at("trained_on"));  // the corpus, then this tabletop scene
  const LoadedRun loaded = load_run(run);
  EXPECT_EQ(loaded.progress.step, 3);
  const auto state = loaded.model->state();
  for (const auto& [name, t] : tuned.weights) EXPECT_TRUE(at::equal(t, state.at(name))) << name;
}

/// `name`.safetensors in `dir`: an untrained model of `type` with `config`.
std::filesystem::path write_untrained(const std::filesystem::path& dir, const std::string& name,
                                      const std::string& type, const nlohmann::json& config) {
  const auto trainable = create_trainable_model(type, config, "test");
  ModelFile m;
  m.name = name;
  m.type = type;
  m.config = trainable->config_json();
  m.weights = trainable->state();
  const std::filesystem::path path = dir / (name + ".safetensors");
  write_model_file(path, m);
  return path;
}

/// The viewer of run `dir` without its preview meshes.
ViewerScene viewer_of(const std::filesystem::path& dir, const std::string& field = "") {
  ViewerOptions options;
  options.run = dir;
  options.field = field;
  options.preview_resolution = 0;
  return ViewerScene(options);
}

// A model with semantics of its own (GP-NeRF's classes, FeatureNeRF's descriptors) is what `segment`, `transfer`
// and the viewer's labels / PCA modes and clicks read on its applied run, under the name "semantics", when the run has
// no distilled field; a model without (IBR) says so.
TEST(AppliedRun, SegmentAndTheViewerReadTheModelsOwnSemantics) {
  AppliedFixture f;
  const auto gp_model = write_untrained(f.models, "tiny-gp", "gp-nerf", to_json(test::small_gpnerf_config()));
  const auto fn_model =
      write_untrained(f.models, "tiny-fn", "featurenerf", to_json(test::small_featurenerf_config()));
  const auto gp = f.tmp / "gp", fn = f.tmp / "fn", ibr = f.tmp / "ibr";
  for (const auto& [model, run, extra] : {std::tuple{gp_model, gp, std::string(" --source-views 4")},
                                          std::tuple{fn_model, fn, std::string(" --source-view r_0")},
                                          std::tuple{f.model, ibr, std::string(" --source-views 4")}}) {
    const auto applied = test::run_cli("apply --model " + test::quoted(model) + " --data " + test::quoted(f.scene) +
                                       " --out " + test::quoted(run) + extra);
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
  }

  // GP-NeRF: classes -> the label-class segmenter; its prepared view holds one class id per pixel.
  const LoadedRun gp_run = load_run(gp);
  EXPECT_EQ(choose_semantics(gp, gp_run, "", FieldUse::Segment), kModelSemantics);
  const RunSemantics gp_semantics = load_semantics(gp, gp_run, "", FieldUse::Segment);
  EXPECT_FALSE(gp_semantics.field.has_value());
  ASSERT_EQ(gp_semantics.source, run_semantic_source(gp_run));
  EXPECT_EQ(gp_semantics.origin(), "model:gp-nerf");
  const auto segmenter = make_segmenter(gp_semantics);
  EXPECT_EQ(segmenter->method(), "label-class");
  const Camera& camera = gp_run.cameras.front().camera;
  const SegmentView view = segmenter->prepare(camera, "v");
  EXPECT_EQ(view.maps.sizes().vec(),
            (std::vector<int64_t>{1, camera.intrinsics.height, camera.intrinsics.width}));
  EXPECT_THROW(make_segmenter(gp_semantics, "similarity"), UsageError);  // classes are no features

  ViewerScene gp_viewer = viewer_of(gp);
  EXPECT_TRUE(gp_viewer.info()["modes"]["labels"]["available"].get<bool>());
  EXPECT_TRUE(gp_viewer.info()["modes"]["pca"]["available"].get<bool>());  // a PCA of the class logits
  EXPECT_TRUE(gp_viewer.info()["segment"]["available"].get<bool>()) << gp_viewer.info().dump();
  EXPECT_EQ(gp_viewer.info()["segment_field"], "semantics");
  EXPECT_EQ(gp_viewer.info()["segment_method"], "label-class");
  const RenderedFrame labels = gp_viewer.render(RenderMode::Labels, camera, "", false, false);
  EXPECT_EQ(labels.image.width, camera.intrinsics.width);
  EXPECT_EQ(labels.image.height, camera.intrinsics.height);
  // Preparing clicks on the view just shown (the page's /api/prepare) takes its semantics from that frame's render
  // instead of rendering the view again.
  ASSERT_NE(gp_viewer.own_semantics_cache(), nullptr);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->misses(), 1);
  ViewerSession session("tab");
  gp_viewer.prepare(session, camera);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->hits(), 1);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->misses(), 1);
  // GP-NeRF renders its semantics in its colour pass: once semantics were asked for (above), an RGB frame is that
  // pass and keeps them for the labels frame of the camera; its depth frame is the same render.
  const Camera& other = gp_run.cameras.back().camera;
  EXPECT_EQ(gp_viewer.own_semantics_cache()->colour_passes(), 0);
  const RenderedFrame rgb = gp_viewer.render(RenderMode::Rgb, other, "", false, false);
  const RenderedFrame depth = gp_viewer.render(RenderMode::Depth, other, "", false, false);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->colour_passes(), 1);
  EXPECT_TRUE(at::equal(rgb.depth, depth.depth));
  gp_viewer.render(RenderMode::Labels, other, "", false, false);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->hits(), 2);
  EXPECT_EQ(gp_viewer.own_semantics_cache()->misses(), 1);
  // Before any semantics are asked for, RGB frames are the colour render alone.
  ViewerScene fresh = viewer_of(gp);
  fresh.render(RenderMode::Rgb, other, "", false, false);
  EXPECT_EQ(fresh.own_semantics_cache()->colour_passes(), 0);

  // With an instance head: the viewer's clicks select instances, classes where apply measured the head below
  // kInstanceHeadMinAp (RUN/config.json "instance_head", as `semfield segment` reads it).
  nlohmann::json with_head = to_json(test::small_gpnerf_config());
  with_head["instance_slots"] = 4;
  const auto gpi_model = write_untrained(f.models, "tiny-gp-instances", "gp-nerf", with_head);
  const auto gpi = f.tmp / "gpi";
  const auto applied_gpi = test::run_cli("apply --model " + test::quoted(gpi_model) + " --data " +
                                         test::quoted(f.scene) + " --out " + test::quoted(gpi) + " --source-views 4");
  ASSERT_EQ(applied_gpi.exit_code, 0) << applied_gpi.output;
  EXPECT_EQ(viewer_of(gpi).info()["segment_method"], "label-instance");
  AppliedRunSpec gpi_spec = read_applied_run_spec(RunPaths{gpi});
  gpi_spec.instance_head = InstanceHeadCheck{0.1, 4, "test", 8, 3};
  write_applied_run_spec(RunPaths{gpi}, gpi_spec);
  EXPECT_EQ(viewer_of(gpi).info()["segment_method"], "label-class");

  // FeatureNeRF: descriptors -> feature similarity, the PCA mode, no labels mode; transfer compares them too.
  const LoadedRun fn_run = load_run(fn);
  EXPECT_EQ(fn_run.scene, nullptr);  // --source-view: the model keeps its one view, the run holds no other image
  const std::shared_ptr<const Scene> fn_scene = run_scene(fn_run);  // so run_scene loads the whole scene
  ASSERT_NE(fn_scene, nullptr);
  EXPECT_GT(fn_scene->views.size(), 1u);
  EXPECT_FALSE(fn_scene->views.back().rgb.empty());
  const RunSemantics fn_semantics = load_semantics(fn, fn_run, kModelSemantics, FieldUse::Segment);
  EXPECT_EQ(make_segmenter(fn_semantics)->method(), "feature-similarity");
  EXPECT_EQ(choose_semantics(fn, fn_run, "", FieldUse::Transfer), kModelSemantics);
  ViewerScene fn_viewer = viewer_of(fn);
  EXPECT_TRUE(fn_viewer.info()["modes"]["pca"]["available"].get<bool>());
  EXPECT_FALSE(fn_viewer.info()["modes"]["labels"]["available"].get<bool>());
  EXPECT_EQ(fn_viewer.info()["segment_method"], "feature-similarity");
  const RenderedFrame pca = fn_viewer.render(RenderMode::Pca, camera, "", false, false);
  EXPECT_EQ(pca.image.width, camera.intrinsics.width);
  // Text queries need a CLIP field, whatever the model has.
  EXPECT_THROW(choose_semantics(fn, fn_run, kModelSemantics, FieldUse::Query), UsageError);

  // IBR renders radiance only: asking for its semantics names the model type; the viewer offers no semantic mode.
  const auto asked = test::run_cli("segment --run " + test::quoted(ibr) + " --view r_0 --click 5,5 --field semantics" +
                                   " --out " + test::quoted(f.tmp / "seg"));
  EXPECT_NE(asked.exit_code, 0);
  EXPECT_NE(asked.output.find("no semantics of its own"), std::string::npos) << asked.output;
  EXPECT_NE(asked.output.find("(ibr)"), std::string::npos) << asked.output;
  ViewerScene ibr_viewer = viewer_of(ibr);
  EXPECT_FALSE(ibr_viewer.info()["modes"]["labels"]["available"].get<bool>());
  EXPECT_FALSE(ibr_viewer.info()["segment"]["available"].get<bool>());
  EXPECT_THROW(viewer_of(ibr, "semantics"), UsageError);  // a field the user named must exist

  // Text queries read CLIP fields only, whatever the model has.
  const auto query = test::run_cli("query --run " + test::quoted(fn) + " --text chair --field semantics --out " +
                                   test::quoted(f.tmp / "q"));
  EXPECT_NE(query.exit_code, 0);
  EXPECT_NE(query.output.find("need a CLIP field"), std::string::npos) << query.output;
  // Class labels of points and mesh vertices need classes, not FeatureNeRF's descriptor.
  write_npy(f.tmp / "points.npy", tensor_to_array(at::zeros({2, 3}, at::kDouble)));
  const auto points = test::run_cli("label-points --run " + test::quoted(fn) + " --points " +
                                    test::quoted(f.tmp / "points.npy") + " --out " + test::quoted(f.tmp / "p.npy"));
  EXPECT_NE(points.exit_code, 0);
  EXPECT_NE(points.output.find("renders features, not classes"), std::string::npos) << points.output;

  // A field distilled onto the run was made on purpose: it is what clicks segment with by default, and
  // `--field semantics` still picks the model's own. The name itself is the model's: no new field may take it.
  const auto distilled = test::run_cli("distill --run " + test::quoted(gp) +
                                       " --teacher labels:semantic --steps 2 --rays 64 --eval-interval 0");
  ASSERT_EQ(distilled.exit_code, 0) << distilled.output;
  const LoadedRun gp_again = load_run(gp);
  EXPECT_EQ(choose_semantics(gp, gp_again, "", FieldUse::Segment), "labels-semantic");
  EXPECT_EQ(choose_semantics(gp, gp_again, kModelSemantics, FieldUse::Segment), kModelSemantics);
  EXPECT_EQ(viewer_of(gp).info()["segment_field"], "labels-semantic");
  EXPECT_EQ(viewer_of(gp, kModelSemantics).info()["segment_field"], kModelSemantics);
  const auto named = test::run_cli("distill --run " + test::quoted(gp) +
                                   " --teacher labels:semantic --steps 2 --rays 64 --eval-interval 0 --name semantics");
  EXPECT_NE(named.exit_code, 0);
  EXPECT_NE(named.output.find("own semantics"), std::string::npos) << named.output;
}

TEST(AppliedRun, InstanceHeadCheckRoundTripsAndBadValuesAreNamed) {
  test::TempDir tmp;
  const RunPaths run{tmp.path() / "run"};
  std::filesystem::create_directories(run.root);
  AppliedRunSpec spec;
  spec.model = tmp.path() / "model.safetensors";
  spec.data = tmp.path() / "scene";
  write_applied_run_spec(run, spec);
  EXPECT_FALSE(read_applied_run_spec(run).instance_head.has_value());
  spec.instance_head = InstanceHeadCheck{0.625, 4, "test", 37, 41};
  write_applied_run_spec(run, spec);
  const AppliedRunSpec back = read_applied_run_spec(run);
  ASSERT_TRUE(back.instance_head.has_value());
  EXPECT_DOUBLE_EQ(back.instance_head->ap75, 0.625);
  EXPECT_EQ(back.instance_head->views, 4);
  EXPECT_EQ(back.instance_head->split, "test");
  EXPECT_EQ(back.instance_head->true_instances, 37);
  EXPECT_EQ(back.instance_head->predictions, 41);
  // Another tool's or a hand-edited config: an AP outside [0, 1], a negative count, another split or an unknown key is
  // an error naming it.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"ap75", 1.5}, {"views", -1}, {"split", "val"}, {"recall", 0.5}}) {
    nlohmann::json json = test::read_json(run.config());
    json["instance_head"][key] = value;
    write_file_atomic(run.config(), json.dump(2));
    try {
      read_applied_run_spec(run);
      ADD_FAILURE() << key << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
    write_applied_run_spec(run, spec);
  }
}

TEST(AppliedRun, BackgroundWithoutAlphaIsWarned) {
  // --background composites RGBA images over a colour; for RGB images it can do nothing, and says so.
  AppliedFixture f;
  const auto rgba = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                  " --background black --out " + test::quoted(f.tmp / "run_rgba"));
  ASSERT_EQ(rgba.exit_code, 0) << rgba.output;
  EXPECT_EQ(rgba.output.find("nothing is composited"), std::string::npos) << rgba.output;
  std::map<std::string, std::vector<bool>> transparent;  // per training image: where the RGBA file was transparent
  for (const char* split : {"train", "test"})
    for (const auto& entry : std::filesystem::directory_iterator(f.scene / split)) {
      const std::string stem = entry.path().stem().string();
      if (entry.path().extension() != ".png" || stem.find('_', 2) != std::string::npos) continue;  // r_<i>.png only
      const Image in = read_image(entry.path());
      ASSERT_EQ(in.channels, 4) << entry.path();
      if (std::string(split) == "train") {
        std::vector<bool>& mask = transparent[stem];
        for (int y = 0; y < in.height; ++y)
          for (int x = 0; x < in.width; ++x) mask.push_back(in.at(x, y, 3) == 0.0f);
      }
      Image rgb(in.width, in.height, 3);
      for (int y = 0; y < in.height; ++y)
        for (int x = 0; x < in.width; ++x)
          for (int c = 0; c < 3; ++c) rgb.at(x, y, c) = in.at(x, y, c);
      write_png(entry.path(), rgb);
    }
  const auto rgb = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                 " --background black --out " + test::quoted(f.tmp / "run_rgb"));
  ASSERT_EQ(rgb.exit_code, 0) << rgb.output;
  EXPECT_NE(rgb.output.find("--background black: the images of"), std::string::npos) << rgb.output;
  EXPECT_NE(rgb.output.find("have no alpha channel"), std::string::npos) << rgb.output;
  const auto white = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) +
                                   " --out " + test::quoted(f.tmp / "run_white"));
  ASSERT_EQ(white.exit_code, 0) << white.output;
  EXPECT_EQ(white.output.find("nothing is composited"), std::string::npos) << white.output;

  // An object on a solid backdrop other than the background (another renderer's RGB output): named, with its colour.
  // The RGB copies above are such images (black where the RGBA files were transparent).
  EXPECT_NE(white.output.find("has no transparency and a uniform border of colour (0.00, 0.00, 0.00), not the "
                              "--background white"),
            std::string::npos)
      << white.output;
  const auto paint = [&](float r, float g, float b) {  // every training (source) view's backdrop
    for (const auto& [stem, mask] : transparent) {
      const auto path = f.scene / "train" / (stem + ".png");
      Image im = read_image(path);
      for (int y = 0; y < im.height; ++y)
        for (int x = 0; x < im.width; ++x)
          if (mask[static_cast<size_t>(y * im.width + x)]) im.at(x, y, 0) = r, im.at(x, y, 1) = g, im.at(x, y, 2) = b;
      write_png(path, im);
    }
  };
  const auto apply_with = [&](const std::string& extra, const std::string& name) {
    const auto r = test::run_cli("apply --model " + test::quoted(f.model) + " --data " + test::quoted(f.scene) + extra +
                                 " --out " + test::quoted(f.tmp / name));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  };
  paint(1.0f, 1.0f, 1.0f);  // white backdrops: what the model expects
  EXPECT_EQ(apply_with("", "run_w").find("uniform border"), std::string::npos);
  paint(0.2f, 0.4f, 0.8f);
  const std::string blue = apply_with("", "run_b");
  EXPECT_NE(blue.find("has no transparency and a uniform border of colour (0.20, 0.40, 0.80), not the --background "
                      "white"),
            std::string::npos)
      << blue;
  EXPECT_EQ(apply_with(" --background 0.2,0.4,0.8", "run_b2").find("uniform border"), std::string::npos);
  // --key-backdrop keys such backdrops out, and the run keeps doing so whenever it loads the scene again.
  // A view is keyed when its whole border is backdrop (in some of these tabletop views the ground reaches the edge:
  // those keep their backdrop, and apply says how many).
  std::map<std::string, bool> border_is_backdrop;
  int64_t expected = 0;
  for (const auto& [stem, mask] : transparent) {
    const Image im = read_image(f.scene / "train" / (stem + ".png"));
    bool all = true;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x)
        if ((x == 0 || y == 0 || x == im.width - 1 || y == im.height - 1) &&
            !mask[static_cast<size_t>(y * im.width + x)])
          all = false;
    border_is_backdrop[stem] = all;
    expected += all;
  }
  ASSERT_GT(expected, 0);
  const std::string keyed = apply_with(" --key-backdrop", "run_k");
  EXPECT_EQ(keyed.find("uniform border"), std::string::npos) << keyed;
  EXPECT_NE(keyed.find(expected == 10 ? std::string("--key-backdrop: 10 of 10 source views have alpha")
                                      : fmt::format("--key-backdrop: only {} of 10 source views have alpha", expected)),
            std::string::npos)
      << keyed;
  EXPECT_TRUE(test::read_json(f.tmp / "run_k" / "config.json").at("key_backdrop").get<bool>());
  const LoadedRun loaded = load_run(f.tmp / "run_k");
  ASSERT_NE(loaded.scene, nullptr);
  for (const View* v : loaded.scene->split(Split::Train)) {
    ASSERT_EQ(v->has_alpha(), border_is_backdrop.at(v->name)) << v->name;
    if (!v->has_alpha()) continue;
    // Keyed: the backdrop reached from the border (nearly all of it: not a hole the object encloses), nothing else.
    const std::vector<bool>& mask = transparent.at(v->name);
    int64_t backdrop = 0, keyed_backdrop = 0, keyed_object = 0;
    for (int y = 0; y < v->rgb.height; ++y)
      for (int x = 0; x < v->rgb.width; ++x) {
        const bool is_backdrop = mask[static_cast<size_t>(y * v->rgb.width + x)];
        const bool keyed_out = v->rgb.at(x, y, 3) == 0.0f;
        backdrop += is_backdrop;
        keyed_backdrop += is_backdrop && keyed_out;
        keyed_object += !is_backdrop && keyed_out;
      }
    EXPECT_GT(backdrop, 0) << v->name;
    EXPECT_GE(keyed_backdrop * 10, backdrop * 9) << v->name;
    EXPECT_EQ(keyed_object, 0) << v->name;
  }
  EXPECT_FALSE(load_run(f.tmp / "run_b").scene->split(Split::Train).front()->has_alpha());  // not asked: RGB
}

TEST(AppliedRun, AScenePastTheBoxIsWarnedUnlessTheCorpusHadSuch) {
  AppliedFixture f;
  test::write_small_open_scene(f.tmp / "open", 6, 24, 8201);
  const auto apply_to = [&](const std::filesystem::path& data, const std::filesystem::path& model) {
    const auto r = test::run_cli("apply --model " + test::quoted(model) + " --data " + test::quoted(data) + " --out " +
                                 test::quoted(f.tmp / ("run_" + data.filename().string() + "_" +
                                                       model.stem().string())));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  };
  // The fixture's model records nothing about its corpus; a tabletop scene is no concern.
  EXPECT_EQ(apply_to(f.scene, f.model).find("beyond the box"), std::string::npos);
  EXPECT_NE(apply_to(f.tmp / "open", f.model).find("record does not say that any of its training scenes did"),
            std::string::npos);
  // A model whose record counts its corpus's unbounded scenes: none -> warned, some -> not.
  ModelFile m = read_model_file(f.model);
  for (const int count : {0, 3}) {
    m.info["trained_on"]["unbounded_scenes"] = count;
    const auto path = f.models / ("tiny-ibr-" + std::to_string(count) + ".safetensors");
    write_model_file(path, m);
    const std::string out = apply_to(f.tmp / "open", path);
    EXPECT_EQ(out.find("none of model tiny-ibr's training scenes did") != std::string::npos, count == 0) << out;
    EXPECT_EQ(out.find("beyond the box") != std::string::npos, count == 0) << out;
  }
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
