// A run folder: a model applied to one scene, which render, eval, segment, mesh and serve read the same way
// whatever the model's type.
//  - Per-scene runs (`semfield train`, type hashgrid): config.json (everything needed to reproduce it),
//    checkpoint.ckpt (model, optimiser state, scene frame and dataset cameras), progress.jsonl (the
//    loss/PSNR-vs-time curve) and eval/ (metrics.json and renders).
//  - Applied runs (`semfield apply`, image-conditioned types): config.json names the model file (weights live
//    with the model, not the run) and the scene it is applied to (data folder, load options, frame, source
//    views); weights.safetensors only when the model was fine-tuned on the scene; eval/ as above.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"
#include "semfield/data/scene.h"
#include "semfield/models/radiance_model.h"
#include "semfield/models/semantic_source.h"

namespace semfield {

/// A dataset camera remembered by the run, so renders of dataset views need no data folder.
struct CameraRecord {
  std::string name;
  Split split = Split::Train;
  Camera camera;  ///< normalised scene coordinates
};

/// What produced a run: data folder, load options and the full model/training config.
struct RunSpec {
  std::filesystem::path data;
  int downscale = 1;
  std::string split_rule = "auto";
  RadianceConfig config;
};

struct RunPaths {
  std::filesystem::path root;
  std::filesystem::path config() const { return root / "config.json"; }
  std::filesystem::path checkpoint() const { return root / "checkpoint.ckpt"; }
  std::filesystem::path progress() const { return root / "progress.jsonl"; }
  std::filesystem::path eval_dir() const { return root / "eval"; }
  std::filesystem::path weights() const { return root / "weights.safetensors"; }  ///< applied runs, fine-tuned
};

/// After fine-tuning with an instance head (gp-nerf): the head measured on some of the scene's labelled views — whether
/// it tells the scene's objects apart, which decides what a click selects (segmenter.h segment_method_for).
struct InstanceHeadCheck {
  double ap75 = 0;             ///< AP@0.75 of the head's instance maps against the views' ground-truth instances
  int views = 0;               ///< views measured
  std::string split;           ///< their split: "test" where those views are labelled, else "train"
  int64_t true_instances = 0;  ///< ground-truth instances over those views
  int64_t predictions = 0;     ///< instances the head predicted over those views
};
/// Below this AP@0.75 a click on the run selects classes, not instances (segmenter.h segment_method_for). Between what
/// was measured (BENCHMARKS.md, GP-NeRF instances): a head fine-tuned 300 steps scored 0.07 (one slot over most objects;
/// instance clicks 0.28 IoU on a cone where class clicks gave 0.47), one fine-tuned 600 steps 0.86 (instance clicks
/// 0.82 against 0.65).
constexpr double kInstanceHeadMinAp = 0.5;

/// An applied run's config.json: a model file bound to a scene.
struct AppliedRunSpec {
  std::filesystem::path data;           ///< the scene folder
  int downscale = 1;
  std::string split_rule = "auto";
  std::filesystem::path model;          ///< the model file (absolute)
  std::string model_name, model_type;   ///< as the file says (for listings; the file is authoritative)
  std::string background = "white";     ///< RGBA source images and renders are composited over it
  bool key_backdrop = false;            ///< `apply --key-backdrop`: RGB images' uniform backdrops keyed out (LoadOptions)
  int source_views = 0;                 ///< views per target; 0 = the model's config
  int64_t finetune_steps = 0;           ///< > 0: RUN/weights.safetensors holds the fine-tuned weights
  SceneFrame frame;                     ///< the scene's normalised frame at apply time
  /// Models with semantic inputs (gnesf): the labels teacher spec of the source views' 2D maps ("labels:semantic",
  /// "labels:instance", "labels:/abs/DIR"); empty for none.
  std::string semantic_maps;
  /// The one view the model is conditioned on (`apply --source-view`: an image stem, a training view first): the pool
  /// of source views is that view alone. Empty: every training view.
  std::string source_view;
  /// `apply --model-config`: top-level config keys replacing the model's each time the run is loaded (inference
  /// settings such as gp-nerf's "n_fine_render" or "fine_min_opacity"); empty = the model's config as it is.
  nlohmann::json model_config = nlohmann::json::object();
  std::optional<InstanceHeadCheck> instance_head;  ///< set by apply after fine-tuning an instance head
};

/// The scene a model applied with `source_view` is conditioned on: a copy of `scene` whose only view is that one (as a
/// training view); `scene` itself when source_view is empty. UsageError listing a few names for an unknown view.
std::shared_ptr<const Scene> source_view_scene(std::shared_ptr<const Scene> scene, const std::string& source_view);

void write_applied_run_spec(const RunPaths& run, const AppliedRunSpec& spec);
/// Throws InputError naming config.json and the key for anything malformed.
AppliedRunSpec read_applied_run_spec(const RunPaths& run);
/// Whether RUN/config.json describes an applied run.
bool is_applied_run(const RunPaths& run);

void write_run_spec(const RunPaths& run, const RunSpec& spec);
/// Throws InputError naming config.json and the key for anything malformed.
RunSpec read_run_spec(const RunPaths& run);

/// Training progress stored beside the model in the checkpoint.
struct TrainProgress {
  int64_t step = 0;
  double elapsed_seconds = 0;
};

/// Everything a checkpoint holds, loaded.
struct LoadedRun {
  RunSpec spec;  ///< data and load options (and, for per-scene runs, the hash-grid config)
  std::unique_ptr<SceneModel> model;  ///< built by the model registry from the run's model type
  std::string background = "white";   ///< the run's background ("white" | "black" | "r,g,b")
  std::optional<AppliedRunSpec> applied;  ///< set for applied runs
  /// Applied runs: the scene the run was applied to, in the run's frame with every split's pixels and extras (what
  /// load_run_scene would load again; the model renders from its training views). Null for per-scene runs and for
  /// `--source-view` runs, whose model keeps only its one view (a large capture's other images are not held).
  std::shared_ptr<const Scene> scene;
  std::vector<CameraRecord> cameras;
  TrainProgress progress;
  TensorMap optimizer_state;  ///< "optim.*" tensors for resuming
};

void save_run_checkpoint(const RunPaths& run, const RunSpec& spec, const RadianceModel& model,
                         const std::vector<CameraRecord>& cameras, const TrainProgress& progress,
                         const TensorMap& optimizer_state);
/// Loads a run: RUN/checkpoint.ckpt of a per-scene run (config from the checkpoint itself, so such a run is
/// self-contained), or an applied run's model file and scene. Throws InputError for a missing run folder, a
/// missing/truncated/foreign checkpoint or model file, or a scene that no longer loads.
LoadedRun load_run(const std::filesystem::path& run_dir);
/// The run's model as a semantic source when it is one with semantics (gnesf applied with 2D maps, gp-nerf), else
/// nullptr.
const SemanticSource* run_semantic_source(const LoadedRun& run);
/// The per-scene hash-grid model of a run, for what only it supports (`what`: "train --resume", ...); UsageError
/// naming the run's model type otherwise.
RadianceModel& hashgrid_model(const LoadedRun& run, const std::string& what);

/// The scene's cameras: every view's, then those of frames without an image (Scene::imageless; targets only).
std::vector<CameraRecord> camera_records(const Scene& scene);

/// Loads the run's dataset (or `data`, other views of the same scene) with the run's load options, its
/// cameras expressed in the run's normalised frame. With `pixels_only_for`, only that split's views get pixels and
/// extras (LoadOptions::pixels_only_for).
Scene load_run_scene(const LoadedRun& run, const std::filesystem::path& data = {},
                     std::optional<Split> pixels_only_for = std::nullopt);
/// The run's scene as load_run_scene(run, data, pixels_only_for) loads it, without loading it again where the run
/// holds it already: an applied run's LoadedRun::scene when `data` is empty or names the run's own data folder (by any
/// path, link or mount: the same folder on disk; that scene has every split's pixels, a superset of what
/// pixels_only_for asks). Otherwise loaded.
std::shared_ptr<const Scene> run_scene(const LoadedRun& run, const std::filesystem::path& data = {},
                                       std::optional<Split> pixels_only_for = std::nullopt);
/// Finds a camera by image stem ("r_12") or "split:index"; UsageError listing a few names otherwise.
const CameraRecord& find_camera(const std::vector<CameraRecord>& cameras, const std::string& name);

/// Parses "white" | "black" | "r,g,b" (components in [0,1]); UsageError otherwise.
Eigen::Vector3f parse_background(const std::string& text);

}  // namespace semfield
