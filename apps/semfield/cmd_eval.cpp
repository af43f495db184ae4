// `semfield eval`: PSNR/SSIM of a trained run on its test split or on other views of the same scene.
#include <optional>
#include <set>

#include <ATen/ATen.h>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/evaluator.h"
#include "semfield/pipeline/feature_evaluator.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/instance_ap.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_output_cache.h"
#include "semfield/teachers/label_teacher.h"
#include "semfield/teachers/teacher.h"

namespace semfield::cli {

namespace {

struct EvalArgs {
  std::string run, data, split = "test", gt;
  bool no_images = false;
};

// 3D segmentation: the source's labels at the true surfaces of the views with a ground-truth depth, into `entry`;
// the first source's also at the top level of `metrics` (model semantics come before distilled fields).
PointLabelScores add_point_label_metrics(const SemanticSource& source, const Teacher& truth,
                                         const std::vector<const View*>& views, nlohmann::json& entry,
                                         nlohmann::json& metrics, const ClassMatch* match = nullptr) {
  const PointLabelScores points = evaluate_point_labels(source, truth, views, 2, match);
  const nlohmann::json scores = points.to_json();
  for (const auto& [key, value] : scores.items()) {
    entry[key] = value;
    if (key != "points_3d" && !metrics.contains(key)) metrics[key] = value;
  }
  return points;
}

// Every distilled field of the run, against its own teacher on the same views: "distilled": {name: {...}},
// and the first field's feature_mse / miou / accuracy at the top level.
void add_distilled_metrics(const EvalArgs& args, const LoadedRun& loaded, const Scene& scene,
                           const std::vector<const View*>& views, const Eigen::Vector3f& background,
                           nlohmann::json& metrics) {
  const auto names = list_distilled(args.run);
  if (names.empty()) return;
  nlohmann::json distilled = nlohmann::json::object();
  for (const std::string& name : names) {
    const LoadedDistill field = load_distilled(args.run, name, *loaded.model);
    // --gt: label fields are scored against the views' own ground truth of that kind, whatever maps they learned from.
    const bool against_gt = !args.gt.empty() && field.model->has_classes();
    const std::unique_ptr<Teacher> teacher =
        against_gt ? make_teacher("labels:" + args.gt, scene) : make_teacher(field.teacher, scene);
    const FeatureEvalResult r =
        evaluate_features(*field.model, *teacher, views, background,
                          args.no_images ? std::filesystem::path() : RunPaths{args.run}.eval_dir() / "renders", name);
    nlohmann::json entry = r.to_json();
    entry["teacher"] = field.teacher.to_string();
    if (against_gt) {
      entry["gt"] = args.gt;
      add_point_label_metrics(*field.model, *teacher, views, entry, metrics);
      if (args.gt == "instance") {
        // An instance label field's ids as instances: AP^0.75 (as GP-NeRF's instance head is scored).
        const auto* labels = dynamic_cast<const LabelTeacher*>(teacher.get());
        InstanceAp ap(0.75);
        for (const View* v : views)
          if (labels) ap.add_logits(render_features(*field.model, v->camera).maps.front(), labels->label_ids(*v));
        entry["ap75"] = ap.ap();
        if (!metrics.contains("ap75")) metrics["ap75"] = ap.ap();
      }
    }
    for (const char* key : {"feature_mse", "miou", "accuracy"})
      if (entry.contains(key) && !metrics.contains(key)) metrics[key] = entry[key];
    distilled[name] = entry;
    std::printf("%-24s %s", name.c_str(), teacher->spec().c_str());
    if (r.feature_mse) std::printf("  feature_mse %.5f", *r.feature_mse);
    if (r.miou) std::printf("  miou %.4f accuracy %.4f", *r.miou, r.accuracy.value_or(0));
    if (entry.contains("ap75")) std::printf("  AP@0.75 %.4f", entry["ap75"].get<double>());
    std::printf("\n");
  }
  metrics["distilled"] = distilled;
}

// What add_model_semantic_metrics scores for a model with classes: the 2D maps it votes over (gnesf; none for the
// own classes of gp-nerf), and the kind of ground truth (--gt, else its default) its label maps are scored against —
// "" when they are not: maps of another kind without --gt; or, with `instance_head`, gp-nerf's instances, scored from
// its instance head instead.
struct SemanticScoring {
  std::optional<TeacherSpec> maps;
  std::string gt;
  bool instance_head = false;
  bool scores_label_maps() const { return !gt.empty() && !instance_head; }
};

SemanticScoring semantic_scoring(const EvalArgs& args, const LoadedRun& loaded) {
  SemanticScoring s;
  const std::string maps_spec = loaded.applied ? loaded.applied->semantic_maps : std::string();
  if (!maps_spec.empty()) s.maps = TeacherSpec::parse(maps_spec);
  s.gt = args.gt;
  if (s.gt.empty() && !s.maps) s.gt = "semantic";
  s.instance_head = s.gt == "instance" && !s.maps;
  if (s.gt.empty() && (s.maps->arg == "semantic" || s.maps->arg == "instance")) s.gt = s.maps->arg;
  return s;
}

// A run whose model is itself a semantic source (gnesf applied with 2D maps): its semantic maps of the evaluated
// views against their ground truth of kind --gt (default: the kind of its input maps when they are the dataset's).
// `source`: the run's (run_semantic_source), or the ViewOutputCache that the colour pass filled; `scoring`:
// semantic_scoring(args, loaded).
void add_model_semantic_metrics(const EvalArgs& args, const LoadedRun& loaded, const SemanticScoring& scoring,
                                const SemanticSource* source, const Scene& scene, const std::vector<const View*>& views,
                                const Eigen::Vector3f& background, nlohmann::json& metrics) {
  if (source == nullptr) {
    if (dynamic_cast<const SemanticSource*>(loaded.model.get()) != nullptr && !args.gt.empty())
      fail_usage("--gt {}: this run has no 2D semantic maps to vote over (apply the model with --teacher labels:...)",
                 args.gt);
    return;
  }
  if (!source->has_classes()) {
    // Features without classes (FeatureNeRF's descriptors): nothing to score against label maps here.
    if (!args.gt.empty())
      fail_usage("--gt {}: this run's model gives features, not classes; score its transfers with `semfield "
                 "eval-transfer` (FeatureNeRF) or `transfer`", args.gt);
    return;
  }
  const std::optional<TeacherSpec>& maps = scoring.maps;
  const std::string& gt = scoring.gt;
  if (scoring.instance_head) {
    // A model with its own classes (gp-nerf): instances come from its instance head, scored by AP^0.75.
    if (!source->has_instances())
      fail_usage("--gt instance: the run's model segments its own semantic classes and has no instance head (fine-tune "
                 "one: apply --finetune-steps K --finetune-config '{{\"instance_slots\": 16}}')");
    const InstanceAp ap =
        score_instance_head(*source, *make_label_teacher("labels:instance", scene), views);
    metrics["ap75"] = ap.ap();
    // The true instances no prediction matched at 0.75, with the best IoU any prediction reached: where AP is lost.
    nlohmann::json missed = nlohmann::json::array();
    std::vector<std::string> missed_text;
    for (const InstanceAp::TrueInstance& t : ap.true_instance_list()) {
      if (t.matched) continue;
      const auto label = scene.instance_labels.find(static_cast<int>(t.id));
      const std::string name = label != scene.instance_labels.end() && !label->second.name.empty()
                                   ? label->second.name
                                   : fmt::format("id {}", t.id);
      const std::string& view = views[static_cast<size_t>(t.view)]->name;
      missed.push_back({{"view", view}, {"id", t.id}, {"name", name}, {"pixels", t.pixels}, {"best_iou", t.best_iou}});
      missed_text.push_back(fmt::format("{} {} (IoU {:.2f}, {} px)", view, name, t.best_iou, t.pixels));
    }
    metrics["instances"] = {{"ap75", ap.ap()}, {"true_instances", ap.true_instances()},
                            {"predictions", ap.predictions()}, {"gt", "instance"}, {"missed", missed}};
    std::printf("%-24s instance head vs gt instance  AP@0.75 %.4f (%lld instances)\n", "instances", ap.ap(),
                static_cast<long long>(ap.true_instances()));
    if (missed_text.size() > 8) {  // the console gets the first 8; metrics.json has them all
      const size_t more = missed_text.size() - 8;
      missed_text.resize(8);
      missed_text.push_back(fmt::format("and {} more (metrics.json)", more));
    }
    if (!missed_text.empty())
      std::printf("%-24s %s\n", "missed at IoU 0.75", fmt::format("{}", fmt::join(missed_text, ", ")).c_str());
    return;
  }
  if (gt.empty()) {
    log::warn("the run's 2D maps come from {}: pass --gt semantic|instance to score its semantics against the "
              "views' ground truth", maps->to_string());
    return;
  }
  const std::unique_ptr<Teacher> truth = make_teacher("labels:" + gt, scene);
  // Classes match by name when the maps and the ground truth both name theirs (labels.json): ids may differ.
  std::map<int, std::string> truth_names;
  for (const auto& [id, label] : gt == "semantic" ? scene.semantic_labels : scene.instance_labels)
    truth_names[id] = label.name;
  std::set<int64_t> present;  // the truth ids of the evaluated views (what "left out" reports)
  if (const auto* labels = dynamic_cast<const LabelTeacher*>(truth.get()))
    for (const View* v : views)
      if (const at::Tensor ids = labels->label_ids(*v); ids.defined()) {
        const at::Tensor u = std::get<0>(at::_unique(ids.reshape({-1})));
        for (int64_t i = 0; i < u.numel(); ++i) present.insert(u[i].item<int64_t>());
      }
  const std::optional<ClassMatch> match = ClassMatch::by_name(source->class_names(), truth_names, present);
  const FeatureEvalResult r =
      evaluate_features(*source, *truth, views, background,
                        args.no_images ? std::filesystem::path() : RunPaths{args.run}.eval_dir() / "renders",
                        "semantics", true, match ? &*match : nullptr);
  nlohmann::json entry = r.to_json();
  // Per-class IoU under the truth's names and ids (matched by name: the scored classes' first truth ids; else the same
  // ids).
  std::vector<std::string> named;
  if (entry.contains("per_class"))
    for (auto& c : entry["per_class"]) {
      const auto k = c["id"].get<int64_t>();
      if (match && k >= 0 && k < match->truth_classes()) {
        c["id"] = match->truth_ids[static_cast<size_t>(k)];
        c["name"] = match->names[static_cast<size_t>(k)];
      } else {
        const auto it = truth_names.find(static_cast<int>(k));
        c["name"] = it != truth_names.end() ? it->second : fmt::format("class_{}", k);
      }
      named.push_back(fmt::format("{} {:.3f}", c["name"].get<std::string>(), c["iou"].get<double>()));
    }
  if (maps) entry["maps"] = maps->to_string();
  entry["gt"] = gt;
  if (match) {
    entry.update(match->to_json());
    metrics["classes_left_out"] = match->left_out;
    if (!match->left_out.empty())
      log::warn("eval: ground-truth classes the model does not know, left out of the scores: {}",
                fmt::join(match->left_out, ", "));
    if (match->truth_classes() == 0)
      log::warn("eval: the model's classes and the ground truth's ({}) share no name: nothing is scored",
                (scene.root / "labels.json").string());
    if (!match->merged.empty())
      log::warn("eval: ground-truth ids sharing a class name, scored as one class: {}", fmt::join(match->merged, "; "));
  } else if (!source->class_names().empty()) {
    log::warn("eval: {} names no classes{}: the model's classes and the ground truth's are matched by id, not by name",
              (scene.root / "labels.json").string(),
              !scene.labels_error.empty()                           ? " (unread: " + scene.labels_error + ")"
              : std::filesystem::exists(scene.root / "labels.json") ? std::string(" (none listed)")
                                                                    : std::string(" (no such file)"));
  }
  const PointLabelScores points =
      source->labels_points() ? add_point_label_metrics(*source, *truth, views, entry, metrics, match ? &*match : nullptr)
                              : PointLabelScores{};
  for (const char* key : {"miou", "accuracy"})
    if (entry.contains(key)) metrics[key] = entry[key];
  metrics["semantics"] = entry;
  std::printf("%-24s %s vs gt %s", "semantics", maps ? maps->to_string().c_str() : "the model's classes", gt.c_str());
  if (r.miou) std::printf("  miou %.4f accuracy %.4f", *r.miou, r.accuracy.value_or(0));
  if (points.miou) std::printf("  3d miou %.4f (%lld surface points)", *points.miou, static_cast<long long>(points.points));
  std::printf("\n");
  if (!named.empty()) std::printf("%-24s %s\n", "per-class IoU", fmt::format("{}", fmt::join(named, ", ")).c_str());
}

void run_eval(const EvalArgs& args) {
  if (!args.gt.empty() && args.gt != "semantic" && args.gt != "instance")
    fail_usage("--gt must be semantic or instance, got {}", args.gt);
  const LoadedRun loaded = load_run(args.run);
  const RunPaths run{args.run};
  const std::filesystem::path data = args.data.empty() ? loaded.spec.data : std::filesystem::path(args.data);
  const Split split = parse_split(args.split);
  // Only the scored split is decoded (a large capture's training images never take memory here), or an applied run's
  // scene is used as load_run holds it.
  std::shared_ptr<const Scene> held = run_scene(loaded, data, split);
  auto views = held->split(split);
  if (views.empty()) {
    // A folder holding only held-out frames may put them in any split: evaluate all of them.
    held = run_scene(loaded, data);
    for (const auto& v : held->views) views.push_back(&v);
  }
  const Scene& scene = *held;
  if (views.empty()) fail_input(data, "", "no views to evaluate");
  const Eigen::Vector3f background = parse_background(loaded.background);
  const std::filesystem::path renders = args.no_images ? std::filesystem::path() : run.eval_dir() / "renders";
  // A model that is its own semantic source and renders colour with its semantics (gp-nerf, gnesf with 2D maps), whose
  // label maps or instances (gp-nerf's instance head, decoded in the same pass) will be scored: one pass per view, the
  // semantics kept from the colour pass for their scores.
  const SemanticSource* own = run_semantic_source(loaded);
  const SemanticScoring scoring = semantic_scoring(args, loaded);
  if (!args.gt.empty()) {
    // The ground truth, checked before any view is rendered: which evaluated views have maps of that kind.
    std::unique_ptr<LabelTeacher> truth;
    try {
      truth = make_label_teacher("labels:" + args.gt, scene);
    } catch (const InputError& e) {
      fail_usage("eval --gt {}: {}", args.gt, e.what());
    }
    std::vector<std::string> missing;
    for (const View* v : views)
      if (!truth->covers(*v)) missing.push_back(v->name);
    if (missing.size() == views.size())
      fail_usage("eval --gt {}: none of the {} evaluated views of {} has a ground-truth {} map ({}_path in its "
                 "transforms file)", args.gt, views.size(), data.string(), args.gt, args.gt);
    if (!missing.empty())
      log::warn("eval --gt {}: {} of {} views have no ground-truth {} map and are not scored: {}", args.gt,
                missing.size(), views.size(), args.gt, fmt::join(missing, ", "));
  }
  std::optional<ViewOutputCache> cache;
  if (own != nullptr && own->renders_colour() && own->has_classes() &&
      (scoring.scores_label_maps() || (scoring.instance_head && own->has_instances()))) {
    ViewCachePolicy policy;
    policy.keep_instances = scoring.instance_head;
    cache.emplace(*own, policy);
  }
  const EvalResult result =
      cache ? evaluate([&](const Camera& camera) { return cache->render_colour(camera, background); }, views,
                       background, renders)
            : evaluate(*loaded.model, views, background, renders);
  nlohmann::json metrics = result.to_json();
  metrics["data"] = std::filesystem::absolute(data).lexically_normal().string();
  metrics["step"] = loaded.progress.step;
  add_model_semantic_metrics(args, loaded, scoring, cache ? &*cache : own, scene, views, background, metrics);
  if (cache)
    log::debug("eval: {} views' semantics from the colour pass, {} rendered again", cache->hits(), cache->misses());
  add_distilled_metrics(args, loaded, scene, views, background, metrics);
  write_file_atomic(run.eval_dir() / "metrics.json", metrics.dump(2) + "\n");
  for (const auto& v : result.views) std::printf("%-24s psnr %6.2f  ssim %.4f\n", v.name.c_str(), v.psnr, v.ssim);
  std::printf("mean over %zu views: psnr %.2f ssim %.4f", result.views.size(), result.psnr, result.ssim);
  for (const char* key : {"feature_mse", "miou", "accuracy", "miou_3d"})
    if (metrics.contains(key)) std::printf(" %s %.4f", key, metrics[key].get<double>());
  std::printf(" -> %s\n", (run.eval_dir() / "metrics.json").c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a trained run: PSNR and SSIM per view and mean, plus feature MSE / mIoU of its distilled fields");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--data", args->data, "Other views of the same scene (default: the run's data)");
  cmd->add_option("--split", args->split, "Split to evaluate (default test; all views if the folder lacks it)");
  cmd->add_option("--gt", args->gt,
                  "Score semantics (a gnesf run's, label fields') against the views' own ground-truth maps: "
                  "semantic | instance (miou, accuracy in metrics.json)");
  cmd->add_flag("--no-images", args->no_images, "Do not write renders");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace semfield::cli
