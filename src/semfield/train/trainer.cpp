// The radiance-field training loop.
#include "semfield/train/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/core/progress.h"
#include "semfield/train/adam.h"
#include "semfield/train/pixel_sampler.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;


at::Tensor photometric_loss(const at::Tensor& pred, const at::Tensor& target, const std::string& kind) {
  if (kind == "mse") return at::mse_loss(pred, target);
  return at::huber_loss(pred, target, at::Reduction::Mean, 0.1);
}

void check_resume_compatible(const SceneFrame& saved, const SceneFrame& now, const fs::path& checkpoint) {
  if (saved.unbounded != now.unbounded || (saved.aabb_min - now.aabb_min).norm() > 1e-4f ||
      (saved.aabb_max - now.aabb_max).norm() > 1e-4f)
    fail_input(checkpoint, "scene_frame", "the checkpoint was trained on a scene with a different frame (aabb "
                                          "or boundedness); resume with the same --data");
}

}  // namespace

TrainSummary train_radiance_field(const Scene& scene, const TrainOptions& options) {
  const RunPaths run{options.run_dir};
  const RadianceConfig& config = options.spec.config;
  const TrainConfig& tc = config.train;
  fs::create_directories(run.root);
  write_run_spec(run, options.spec);

  const auto train_views = scene.split(Split::Train);
  const auto test_views = scene.split(Split::Test);
  if (train_views.empty()) fail_input(scene.root, "", "the scene has no training views");
  const PixelSampler sampler(train_views);
  const SceneFrame frame = SceneFrame::from_scene(scene);
  const std::vector<CameraRecord> cameras = camera_records(scene);
  const Eigen::Vector3f eval_background = parse_background(config.render.background);

  std::unique_ptr<RadianceModel> model;
  TrainProgress progress;
  TensorMap optimizer_state;
  if (options.resume) {
    LoadedRun loaded = load_run(run.root);
    check_resume_compatible(loaded.model->frame(), frame, run.checkpoint());
    hashgrid_model(loaded, "train --resume");
    model.reset(static_cast<RadianceModel*>(loaded.model.release()));
    progress = loaded.progress;
    optimizer_state = std::move(loaded.optimizer_state);
    log::info("resuming {} from step {}", run.root.string(), progress.step);
  } else {
    model = std::make_unique<RadianceModel>(config, frame);
  }
  DenseAdam mlp_adam(model->field().mlp_parameters());
  if (options.resume) mlp_adam.load_state(optimizer_state, "mlp.", run.checkpoint().string());

  std::ofstream progress_log(run.progress(), options.resume ? std::ios::app : std::ios::trunc);
  auto save = [&] {
    save_run_checkpoint(run, options.spec, *model, cameras, progress, mlp_adam.state("mlp."));
  };

  TrainSummary summary;
  const int64_t first_step = progress.step;
  const int64_t total_steps = tc.steps;
  int64_t n_rays = tc.initial_rays;
  int64_t samples_trained = 0;
  double loss_ema = 0, mse_ema = 0;
  ProgressBar bar("train", std::max<int64_t>(total_steps - first_step, 1), "step");
  const bool budgeted = tc.time_budget > 0;
  auto segment_start = Clock::now();
  const double elapsed_at_start = progress.elapsed_seconds;
  auto elapsed = [&] { return elapsed_at_start + seconds_since(segment_start); };
  double paused = 0;  // time spent in evaluation/checkpoints, excluded from training time
  // The budget, like the step count, is the run's total: a resumed run whose budget is spent trains nothing.
  if (budgeted && options.resume && elapsed_at_start >= tc.time_budget && progress.step < total_steps)
    log::warn("the run's time budget of {:.0f} s is spent ({:.0f} s trained): pass a larger --time-budget to train "
              "further",
              tc.time_budget, elapsed_at_start);

  while (progress.step < total_steps) {
    if (budgeted && elapsed() - paused >= tc.time_budget) break;
    if (options.stop_requested && options.stop_requested->load()) {
      summary.interrupted = true;
      break;
    }
    const int64_t step = progress.step;
    // Schedule progress follows whichever limit (steps or time budget) is nearer to being reached.
    double t = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total_steps, 1));
    if (budgeted) t = std::max(t, (elapsed() - paused) / tc.time_budget);
    t = std::min(t, 1.0);
    kernels::AdamHyper hyper{tc.lr * std::pow(tc.lr_final_fraction, t), tc.beta1, tc.beta2, tc.eps, 0.0};

    if (step % tc.grid_update_interval == 0) model->update_occupancy(step);

    const uint64_t seed = tc.seed * 1000003ull + static_cast<uint64_t>(step);
    const RayBatch batch = sampler.sample(n_rays, seed);
    const at::Tensor alpha = batch.rgba.narrow(1, 3, 1);
    const at::Tensor background = tc.random_background && frame.has_alpha
                                      ? at::rand({n_rays, 3}, at::make_generator<at::CPUGeneratorImpl>(seed + 1))
                                      : at::tensor({eval_background.x(), eval_background.y(), eval_background.z()})
                                            .expand({n_rays, 3});
    const at::Tensor target = batch.rgba.narrow(1, 0, 3) * alpha + (1.0f - alpha) * background;
    RayRenderOutput out =
        model->render_train(batch.origins, batch.directions, background, seed + 2, tc.distortion_weight > 0);
    if (out.n_samples > 0) {
      at::Tensor loss = photometric_loss(out.rgb, target, tc.loss);
      if (out.distortion.defined()) loss = loss + tc.distortion_weight * out.distortion.mean();
      loss.backward();
      model->field().backward_grid();
      model->field().step_grid(hyper);
      kernels::AdamHyper mlp_hyper = hyper;
      mlp_hyper.weight_decay = tc.mlp_weight_decay;
      mlp_adam.step(mlp_hyper);
      const double mse = at::mse_loss(out.rgb.detach(), target).item<double>();
      const double l = loss.item<double>();
      loss_ema = step == first_step ? l : 0.95 * loss_ema + 0.05 * l;
      mse_ema = step == first_step ? mse : 0.95 * mse_ema + 0.05 * mse;
    }
    samples_trained += out.n_samples;
    // Keep ~target_samples per step as the occupancy grid sparsifies (nerfacc's dynamic batch size).
    const double per_ray = static_cast<double>(std::max<int64_t>(out.n_samples, 1)) / static_cast<double>(n_rays);
    n_rays = std::clamp<int64_t>(static_cast<int64_t>(tc.target_samples / per_ray), 256, tc.max_rays);
    progress.step = step + 1;
    progress.elapsed_seconds = elapsed() - paused;

    const double train_psnr = mse_ema > 0 ? -10.0 * std::log10(mse_ema) : 0.0;
    if (options.show_progress)
      bar.update(progress.step - first_step,
                 fmt::format("loss {:.4f} psnr {:.2f} rays {} samples/ray {:.1f} occ {:.3f}", loss_ema, train_psnr,
                             n_rays, per_ray, model->occupancy_fraction()),
                 budgeted ? t : -1.0);
    if (progress.step % 50 == 0 || progress.step == total_steps) {
      nlohmann::json line = {{"step", progress.step},      {"seconds", progress.elapsed_seconds},
                             {"loss", loss_ema},           {"train_psnr", train_psnr},
                             {"rays", n_rays},             {"samples_per_ray", per_ray}};
      progress_log << line.dump() << "\n" << std::flush;
    }
    const bool eval_now = tc.eval_interval > 0 && progress.step % tc.eval_interval == 0 && !test_views.empty();
    const bool checkpoint_now = tc.checkpoint_interval > 0 && progress.step % tc.checkpoint_interval == 0;
    if (eval_now || checkpoint_now) {
      const auto pause_start = Clock::now();
      if (eval_now) {
        std::vector<const View*> subset(test_views.begin(),
                                        test_views.begin() + std::min<size_t>(test_views.size(), tc.eval_views));
        const EvalResult r = evaluate(*model, subset, eval_background, {}, false);
        progress_log << nlohmann::json{{"step", progress.step},
                                       {"seconds", progress.elapsed_seconds},
                                       {"test_psnr", r.psnr},
                                       {"test_ssim", r.ssim},
                                       {"test_views", subset.size()}}
                            .dump()
                     << "\n"
                     << std::flush;
        log::info("step {}: test psnr {:.2f} ssim {:.4f} ({} views)", progress.step, r.psnr, r.ssim, subset.size());
      }
      if (checkpoint_now) save();
      paused += seconds_since(pause_start);
    }
  }
  if (options.show_progress) bar.finish();
  summary.steps = progress.step - first_step;
  summary.seconds = progress.elapsed_seconds - elapsed_at_start;
  summary.samples_per_second = summary.seconds > 0 ? static_cast<double>(samples_trained) / summary.seconds : 0;
  save();
  log::info("trained {} steps in {} ({:.2f} M samples/s){}; checkpoint {}", summary.steps,
            format_duration(summary.seconds), summary.samples_per_second / 1e6,
            summary.interrupted ? " (interrupted)" : "", run.checkpoint().string());

  if (!test_views.empty() && !summary.interrupted) {
    summary.final_eval = evaluate(*model, test_views, eval_background, run.eval_dir(), options.show_progress);
    nlohmann::json metrics = summary.final_eval.to_json();
    metrics["step"] = progress.step;
    metrics["train_seconds"] = progress.elapsed_seconds;
    write_file_atomic(run.eval_dir() / "metrics.json", metrics.dump(2) + "\n");
    progress_log << nlohmann::json{{"step", progress.step},
                                   {"seconds", progress.elapsed_seconds},
                                   {"test_psnr", summary.final_eval.psnr},
                                   {"test_ssim", summary.final_eval.ssim},
                                   {"test_views", test_views.size()}}
                        .dump()
                 << "\n";
  }
  return summary;
}

}  // namespace semfield
