// The distillation loop.
#include "semfield/train/feature_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <random>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/core/progress.h"
#include "semfield/core/tensor_state.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/segment/text_query.h"
#include "semfield/train/adam.h"
#include "semfield/train/camera_augmentation.h"
#include "semfield/train/feature_cache.h"
#include "semfield/train/training_loop.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;


// One scale of the training targets: every view's map flattened channels-last, so a batch is a gather.
struct ScaleTargets {
  at::Tensor cells;                   // [N_cells, C]
  std::vector<int64_t> offsets;       // first cell of each view, plus the total
  std::vector<Camera> cameras;        // each view's camera resized to its map
  kernels::CameraBatch camera_batch;
};

// Rays and targets for a set of cells of one scale.
struct CellBatch {
  at::Tensor origins, dirs, targets;
};

ScaleTargets build_targets(const std::vector<std::vector<at::Tensor>>& maps, const std::vector<Camera>& cameras,
                           size_t scale) {
  ScaleTargets t;
  std::vector<at::Tensor> flat;
  int64_t total = 0;
  for (size_t v = 0; v < maps.size(); ++v) {
    const at::Tensor& m = maps[v][scale];
    t.offsets.push_back(total);
    total += m.size(1) * m.size(2);
    flat.push_back(m.permute({1, 2, 0}).reshape({-1, m.size(0)}));
    t.cameras.push_back(cameras[v]);
    t.cameras.back().intrinsics = cameras[v].intrinsics.resized(static_cast<int>(m.size(2)), static_cast<int>(m.size(1)));
  }
  t.offsets.push_back(total);
  t.cells = at::cat(flat).contiguous();
  t.camera_batch = kernels::CameraBatch::from_cameras(t.cameras);
  return t;
}

// `n` cells drawn uniformly from all views of one scale (or from view `only_view` when >= 0).
// `jitter`: the ray goes through a uniformly random point of the cell instead of its centre (a token stands for its
// whole patch; Laser's coarse CLIP tokens then reach every surface point, not only those seen through patch centres).
CellBatch sample_cells(const ScaleTargets& t, int64_t n, std::mt19937_64& rng, int64_t only_view = -1,
                       bool jitter = false) {
  std::uniform_real_distribution<float> offset(0.0f, 1.0f);
  const int64_t begin = only_view >= 0 ? t.offsets[only_view] : 0;
  const int64_t end = only_view >= 0 ? t.offsets[only_view + 1] : t.offsets.back();
  std::uniform_int_distribution<int64_t> pick(begin, end - 1);
  at::Tensor index = at::empty({n}, at::kLong), view_ids = at::empty({n}, at::kLong), uv = at::empty({n, 2});
  int64_t* ip = index.data_ptr<int64_t>();
  int64_t* vp = view_ids.data_ptr<int64_t>();
  float* up = uv.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t cell = pick(rng);
    const int64_t v = std::upper_bound(t.offsets.begin(), t.offsets.end(), cell) - t.offsets.begin() - 1;
    const int64_t local = cell - t.offsets[v];
    const int64_t w = t.cameras[v].intrinsics.width;
    ip[i] = cell;
    vp[i] = v;
    // cell centre: the map-geometry contract of teacher.h
    up[2 * i] = static_cast<float>(local % w) + (jitter ? offset(rng) : 0.5f);
    up[2 * i + 1] = static_cast<float>(local / w) + (jitter ? offset(rng) : 0.5f);
  }
  const kernels::Rays rays = kernels::generate_rays(t.camera_batch, view_ids, uv);
  return {rays.origins, rays.directions, t.cells.index_select(0, index)};
}

// Cross-entropy against per-class probabilities; rows without a label (all zero) are ignored.
at::Tensor soft_cross_entropy(const at::Tensor& logits, const at::Tensor& probs) {
  const at::Tensor mass = probs.sum(1);
  const at::Tensor labelled = mass.gt(0);
  const int64_t n = labelled.sum().item<int64_t>();
  if (n == 0) return (logits * 0.0f).sum();
  const at::Tensor target = probs / mass.clamp_min(1e-12f).unsqueeze(1);
  const at::Tensor per_ray = -(target * at::log_softmax(logits, 1)).sum(1);
  return per_ray.masked_select(labelled).mean();
}

// Cross-entropy of logits [R,K] against a (detached) distribution [R,K], mean over rows.
at::Tensor distribution_cross_entropy(const at::Tensor& logits, const at::Tensor& target) {
  return -(target * at::log_softmax(logits, 1)).sum(1).mean();
}

at::Tensor cosine_matrix(const at::Tensor& a, const at::Tensor& b) {
  return at::matmul(normalised_rows(a), normalised_rows(b).t());
}

// Laser's losses for one batch (rays hitting the scene, opacity >= 0.5, carry the class terms):
//  - the field renders the adapted tokens (MSE in standardised units; the attention applied to its output);
//  - adapter self-consistency: adapted tokens stay close to the original ones (cosine), weight 1 in the self phase and
//    0.3 in the cross phase (the code's split);
//  - class targets P: softmax over the class list of the original tokens' cosines with the (augmented) class texts,
//    each class standardised over the batch (text augmentation), at temperature tau; the field's own class
//    distribution (relevancy) and the label volume's logits learn P by cross-entropy. (The released code takes P from
//    the adapted tokens - `adapted_class_targets` - but in the cross phase those move towards the field's rendering
//    and the label volume's answers, so the field would learn its own answers back: a self-training loop.)
//  - cross phase (after cross_start of the steps): the adapted tokens move towards the field's rendering and their
//    class distribution towards the label volume's, which is consistent across views (its targets come from every view).
at::Tensor laser_loss(FeatureModel& model, const LaserConfig& lc, const at::Tensor& latent,
                      const at::Tensor& label_features, const at::Tensor& opacity, const at::Tensor& target_std,
                      const at::Tensor& text_plain, const at::Tensor& text_augmented, bool cross_phase) {
  LaserParts& lp = *model.laser();
  FeatureField& field = model.field();
  const int64_t n = target_std.size(0);
  at::Tensor pred = field.decode_standardized(latent.narrow(0, 0, n), 0);
  if (lp.attention) pred = lp.attention->forward_train(pred);
  const at::Tensor adapted = lp.adapter ? lp.adapter->forward(target_std) : target_std;
  at::Tensor loss = at::mse_loss(pred, adapted.detach());
  if (lp.adapter) {
    const at::Tensor self = 1 - at::cosine_similarity(adapted, target_std, 1).mean();
    loss = loss + lc.self_weight * (cross_phase ? 0.3 : 1.0) * self;
    if (cross_phase) loss = loss + lc.cross_weight * (1 - at::cosine_similarity(adapted, pred.detach(), 1).mean());
  }
  if (!text_plain.defined()) return loss;
  const at::Tensor hit = opacity.narrow(0, 0, n).ge(0.5f);
  if (hit.sum().item<int64_t>() < 2) return loss;
  const at::Tensor mean = field.mean()[0], std = field.std()[0];
  const double inv_tau = 1.0 / lc.temperature;
  const at::Tensor adapted_raw = adapted.index({hit}) * std + mean;
  at::Tensor targets;
  {
    at::NoGradGuard guard;
    const at::Tensor tokens = lc.adapted_class_targets ? adapted_raw : target_std.index({hit}) * std + mean;
    at::Tensor z = at::matmul(normalised_rows(tokens), text_augmented.t());  // [H,K]
    if (lc.text_augmentation) z = standardise_rows(z.t()).t();
    targets = at::softmax(z * inv_tau, 1);
  }
  const at::Tensor pred_raw = pred.index({hit}) * std + mean;
  loss = loss + lc.relevancy_weight *
                    distribution_cross_entropy(at::matmul(normalised_rows(pred_raw), text_plain.t()) * inv_tau, targets);
  if (lp.label_volume) {
    const at::Tensor logits = lp.label_volume->logits(label_features.narrow(0, 0, n).index({hit}), text_plain);
    loss = loss + lc.label_weight * distribution_cross_entropy(logits, targets);
    if (cross_phase && lp.adapter)
      loss = loss + lc.cross_weight * distribution_cross_entropy(
                                          at::matmul(normalised_rows(adapted_raw), text_plain.t()) * inv_tau,
                                          at::softmax(logits, 1).detach());
  }
  return loss;
}

}  // namespace

int auto_finest_resolution(const std::vector<std::pair<int64_t, int64_t>>& map_sizes, int base_resolution) {
  int64_t side = 0;
  for (const auto& [h, w] : map_sizes) side = std::max({side, h, w});
  // Cells finer than a teacher pixel's footprint can hold what differs between views at one surface point: the
  // maps' per-view noise, which the grid then memorises. Measured with 30 %-noise instance labels on 96-pixel views
  // (held-out mIoU after 200 / 600 steps): 1024 cells 81 % / 60 %, 96 cells 96 % / 89 %, 48 cells 96 % / 96 %;
  // clean labels reach the same 97 % with 48 cells as with 1024. The views of a normalised scene frame about the
  // unit cube, so half a cell per map pixel.
  return static_cast<int>(std::clamp<int64_t>((side + 1) / 2, std::max(32, base_resolution), 2048));
}

DistillSummary distill_field(const Scene& scene, const LoadedRun& run, const Teacher& teacher,
                             const DistillOptions& options) {
  DistillConfig config = options.config;
  if (options.name == kModelSemantics)
    fail_usage("distill: '{}' names the run model's own semantics beside its fields; give the field another --name",
               options.name);
  const DistillPaths paths = distill_paths(options.run_dir, options.name);
  fs::create_directories(paths.root);
  const auto train_views = scene.split(Split::Train);
  const auto test_views = scene.split(Split::Test);
  if (train_views.empty()) fail_input(scene.root, "", "the scene has no training views");
  const Eigen::Vector3f background = parse_background(run.background);
  const bool labels = teacher.output_kind() == TeacherOutputKind::Labels;
  config.field.channels = teacher.channels();
  const size_t n_scales = config.field.channels.size();
  if (config.field.finest_resolution == 0) {
    const Intrinsics& k = train_views.front()->camera.intrinsics;
    config.field.finest_resolution =
        auto_finest_resolution(teacher.map_sizes(k.height, k.width), config.field.grid.base_resolution);
  }
  write_file_atomic(paths.config(), to_json(config).dump(2) + "\n");

  // 1. The teacher on every training view (the expensive part SAN's caching targets for novel views).
  DistillSummary summary;
  const auto precompute_start = Clock::now();
  std::vector<std::vector<at::Tensor>> maps;
  std::vector<Camera> cameras;
  {
    ProgressBar bar("teacher " + teacher.spec(), static_cast<int64_t>(train_views.size()), "view");
    for (const View* view : train_views) {
      std::vector<at::Tensor> m = teacher.compute({teacher_image(*view, background), view});
      if (m.size() != n_scales) fail_usage("teacher {} returned {} maps, expected {}", teacher.spec(), m.size(), n_scales);
      for (size_t s = 0; s < n_scales; ++s)
        if (m[s].dim() != 3 || m[s].size(0) != config.field.channels[s])
          fail_input(view->image_path, teacher.spec(), "teacher map {} has shape {}, expected {} channels", s,
                     describe_tensor(m[s]), config.field.channels[s]);
      maps.push_back(std::move(m));
      cameras.push_back(view->camera);
      if (options.show_progress) bar.update(static_cast<int64_t>(maps.size()));
    }
    if (options.show_progress) bar.finish();
  }
  summary.precompute_seconds = seconds_since(precompute_start);
  std::vector<ScaleTargets> targets;
  for (size_t s = 0; s < n_scales; ++s) targets.push_back(build_targets(maps, cameras, s));
  maps.clear();

  FeatureModel model(config.field, teacher.output_kind(), config.surface, *run.model, config.seed);
  if (!labels) {
    // Standardise targets per channel so heads see O(1) values whatever the teacher's units.
    std::vector<at::Tensor> mean, std;
    for (const auto& t : targets) {
      const at::Tensor sample = t.cells.size(0) > 262144
                                    ? t.cells.index_select(0, at::linspace(0, t.cells.size(0) - 1, 262144).to(at::kLong))
                                    : t.cells;
      mean.push_back(sample.mean(0));
      std.push_back(sample.std(0).clamp_min(1e-3f * sample.std(0).max().item<float>() + 1e-12f));
    }
    model.field().set_normalization(mean, std);
  }
  auto standardize = [&](const at::Tensor& x, size_t s) {
    return labels ? x : (x - model.field().mean()[s]) / model.field().std()[s];
  };
  DenseAdam adam(model.field().dense_parameters());

  // Laser's modules (fields/laser_modules.h): attached before training, their own Adam (the volume's planes and lines
  // at the field's rate, the networks at module_lr_scale of it).
  const LaserConfig& lc = config.laser;
  std::unique_ptr<DenseAdam> laser_adam;
  at::Tensor text_plain, text_augmented;
  if (lc.enabled) {
    if (labels || n_scales != 1)
      fail_usage("--laser on needs a one-scale feature teacher (CLIP, or CLIP-like files:DIR), not {}", teacher.spec());
    at::Tensor class_text = options.class_text;
    if (class_text.defined() && class_text.size(1) != config.field.channels[0])
      fail_usage("the class text embeddings have {} channels but the teacher's maps {}", class_text.size(1),
                 config.field.channels[0]);
    model.attach_laser(lc, options.class_names, class_text, config.seed);
    LaserParts& lp = *model.laser();
    std::vector<at::Tensor> params;
    std::vector<double> scales;
    auto add = [&](const std::vector<at::Tensor>& ps, double scale) {
      for (const at::Tensor& p : ps) params.push_back(p), scales.push_back(scale);
    };
    if (lp.adapter) add(lp.adapter->parameters(), lc.module_lr_scale);
    if (lp.attention) add(lp.attention->parameters(), lc.module_lr_scale);
    if (lp.label_volume) {
      add(lp.label_volume->grid_parameters(), 1.0);
      add(lp.label_volume->network_parameters(), lc.module_lr_scale);
    }
    if (!params.empty()) {
      laser_adam = std::make_unique<DenseAdam>(params);
      laser_adam->set_lr_scales(scales);
    }
    if (lp.class_text.defined()) {
      text_plain = normalised_rows(lp.class_text);
      text_augmented = lc.text_augmentation && options.class_text_augmented.defined()
                           ? normalised_rows(options.class_text_augmented.to(at::kFloat))
                           : text_plain;
    }
    log::info("Laser: adapter {}, attention {}, label volume {}, text augmentation {}, {} classes{}",
              lp.adapter ? "on" : "off", lp.attention ? fmt::format("rank {}", lc.attention_rank) : "off",
              lp.label_volume ? fmt::format("rank {} at {}", lc.label_rank, lc.label_resolution) : "off",
              lc.text_augmentation ? (text_augmented.defined() && !text_augmented.is_same(text_plain)
                                          ? "repeat + standardise" : "standardise")
                                   : "off",
              lp.class_names.size(), lp.class_names.empty() ? " (no class list: label volume and relevancy off)" : "");
  }

  const bool augment = config.camera_augmentation && teacher.runs_on_images() && config.augment_probability > 0;
  if (config.camera_augmentation && !teacher.runs_on_images())
    log::info("camera augmentation off: teacher {} cannot run on rendered views", teacher.spec());
  FeatureCache cache(config.cache_capacity, config.cache_reuse, config.seed + 17);
  std::mt19937_64 rng(config.seed * 7919 + 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  // An augmented view: a cached one (SAN: 75 %) or a freshly rendered one run through the teacher.
  std::optional<AugmentedView> fresh_holder;
  auto augmented_view = [&]() -> const AugmentedView& {
    if (config.cache && cache.should_reuse()) {
      ++summary.augmented_cached;
      return cache.sample();
    }
    const auto start = Clock::now();
    AugmentedView view;
    view.camera = random_interpolated_camera(cameras, rng, config.augment_max_side);
    const RenderedView rendered = render_view(*run.model, view.camera, background);
    view.maps = teacher.compute({image_to_tensor(rendered.rgb), nullptr});
    summary.augment_seconds += seconds_since(start);
    ++summary.augmented_fresh;
    if (config.cache) {
      cache.push(std::move(view));
      return cache.entries().back();
    }
    fresh_holder = std::move(view);
    return *fresh_holder;
  };

  const int64_t rays_per_scale = std::max<int64_t>(16, config.rays_per_step / static_cast<int64_t>(n_scales));
  TrainingLoopOptions lo;
  lo.steps = config.steps;
  lo.time_budget = config.time_budget;
  lo.eval_interval = test_views.empty() ? 0 : config.eval_interval;
  lo.label = "distill";
  lo.show_progress = options.show_progress;
  lo.stop_requested = options.stop_requested;
  TrainingLoop loop(lo, {}, paths.progress(), false);
  double loss_ema = 0;
  while (loop.next()) {
    const int64_t step = loop.step();
    const kernels::AdamHyper hyper{loop.exponential_lr(config.lr, config.lr_final_fraction), config.beta1,
                                   config.beta2, config.eps, 0.0};

    // Cells of every scale: from all training views, or from one augmented view.
    std::vector<CellBatch> batches;
    const bool use_augmented = augment && unit(rng) < config.augment_probability;
    std::optional<ScaleTargets> augmented_targets;
    if (use_augmented) {
      const AugmentedView& view = augmented_view();
      for (size_t s = 0; s < n_scales; ++s) {
        ScaleTargets single = build_targets({view.maps}, {view.camera}, s);
        batches.push_back(sample_cells(single, rays_per_scale, rng, -1, lc.enabled));
      }
    } else {
      for (size_t s = 0; s < n_scales; ++s) batches.push_back(sample_cells(targets[s], rays_per_scale, rng, -1, lc.enabled));
    }
    // Cross-scale correlation (Eq. 9-11): cosine-similarity maps between scales within one training view.
    std::vector<CellBatch> cross;
    if (n_scales > 1 && config.cross_scale_weight > 0) {
      const int64_t v = std::uniform_int_distribution<int64_t>(0, static_cast<int64_t>(cameras.size()) - 1)(rng);
      for (size_t s = 0; s < n_scales; ++s) cross.push_back(sample_cells(targets[s], config.cross_scale_pixels, rng, v));
    }

    // One render for every ray of the step.
    std::vector<at::Tensor> origins, dirs;
    for (const auto* group : {&batches, &cross})
      for (const auto& b : *group) {
        origins.push_back(b.origins);
        dirs.push_back(b.dirs);
      }
    at::Tensor label_features, opacity;
    const at::Tensor latent = model.render_latent_train(at::cat(origins), at::cat(dirs), &label_features, &opacity);
    at::Tensor loss = at::zeros({});
    int64_t offset = 0;
    if (lc.enabled) {
      loss = laser_loss(model, lc, latent, label_features, opacity, standardize(batches[0].targets, 0), text_plain,
                        text_augmented, step >= static_cast<int64_t>(lc.cross_start * static_cast<double>(config.steps)));
      offset = batches[0].origins.size(0);
    }
    for (size_t s = lc.enabled ? n_scales : 0; s < n_scales; ++s) {
      const int64_t n = batches[s].origins.size(0);
      const at::Tensor pred = model.field().decode_standardized(latent.narrow(0, offset, n), s);
      offset += n;
      loss = loss + (labels ? soft_cross_entropy(pred, batches[s].targets)
                            : at::mse_loss(pred, standardize(batches[s].targets, s)));
    }
    if (!cross.empty()) {
      std::vector<at::Tensor> pred, target;
      for (size_t s = 0; s < n_scales; ++s) {
        const int64_t n = cross[s].origins.size(0);
        pred.push_back(model.field().decode_standardized(latent.narrow(0, offset, n), s));
        target.push_back(standardize(cross[s].targets, s));
        offset += n;
      }
      for (size_t i = 0; i < n_scales; ++i)
        for (size_t j = i + 1; j < n_scales; ++j)
          loss = loss + config.cross_scale_weight *
                            at::mse_loss(cosine_matrix(pred[i], pred[j]), cosine_matrix(target[i], target[j]));
    }
    loss.backward();
    model.field().backward_grid();
    model.field().step_grid(hyper);
    adam.step(hyper);
    if (laser_adam) laser_adam->step(hyper);
    const double l = loss.item<double>();
    loss_ema = step == 0 ? l : 0.95 * loss_ema + 0.05 * l;

    const std::string cache_text =
        augment ? fmt::format(" aug fresh {} cached {}", summary.augmented_fresh, summary.augmented_cached) : "";
    loop.end_step(fmt::format("loss {:.4f}{}", loss_ema, cache_text), {{"loss", loss_ema}});
    if (loop.eval_due())
      loop.pause([&] {
        std::vector<const View*> subset(test_views.begin(),
                                        test_views.begin() + std::min<size_t>(test_views.size(), 3));
        const FeatureEvalResult r = evaluate_features(model, teacher, subset, background, {}, options.name, false);
        nlohmann::json line = r.to_json();
        line.erase("views");
        loop.log(line);
      });
  }
  loop.finish();
  summary.interrupted = loop.interrupted();
  const int64_t step = loop.step();
  summary.steps = step;
  summary.seconds = loop.session_seconds();
  MapGrid grid{cameras.front().intrinsics.height, cameras.front().intrinsics.width, {}};
  for (const auto& t : targets) grid.sizes.emplace_back(t.cameras.front().intrinsics.height, t.cameras.front().intrinsics.width);
  save_distill_checkpoint(paths, config, model, {step, summary.seconds}, grid, adam.state("optim."));
  log::info("distilled {} ({} steps in {}, teacher on {} training views {}{}); checkpoint {}", options.name, step,
            format_duration(summary.seconds), train_views.size(), format_duration(summary.precompute_seconds),
            augment ? fmt::format(", {} fresh + {} cached augmented views ({} rendering + teacher)",
                                  summary.augmented_fresh, summary.augmented_cached,
                                  format_duration(summary.augment_seconds))
                    : std::string(),
            paths.checkpoint().string());
  if (!test_views.empty() && !summary.interrupted) {
    summary.final_eval = evaluate_features(model, teacher, test_views, background, paths.eval_dir() / "renders",
                                           options.name, options.show_progress);
    nlohmann::json metrics = summary.final_eval.to_json();
    metrics["step"] = step;
    metrics["teacher"] = teacher.spec();
    write_file_atomic(paths.eval_dir() / "metrics.json", metrics.dump(2) + "\n");
  }
  return summary;
}

}  // namespace semfield
