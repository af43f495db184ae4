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
#include "semfield/train/training_loop.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

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
  PixelSamplerOptions store;
  store.memory_cap_bytes = options.image_memory_bytes;
  store.rotate_every = options.image_rotation_steps;
  store.seed = tc.seed;
  store.start_step = progress.step;
  store.reload = &options.reload;
  store.show_progress = options.show_progress;
  PixelSampler sampler(train_views, store);
  log::info("training images: {}", sampler.plan().describe());
  DenseAdam mlp_adam(model->field().mlp_parameters());
  if (options.resume) mlp_adam.load_state(optimizer_state, "mlp.", run.checkpoint().string());

  LoopProgress start{progress.step, progress.elapsed_seconds};
  TrainingLoopOptions lo;
  lo.steps = tc.steps;
  lo.time_budget = tc.time_budget;
  lo.eval_interval = test_views.empty() ? 0 : tc.eval_interval;
  lo.checkpoint_interval = tc.checkpoint_interval;
  lo.show_progress = options.show_progress;
  lo.stop_requested = options.stop_requested;
  TrainingLoop loop(lo, start, run.progress(), options.resume);
  auto save = [&] {
    const LoopProgress p = loop.progress();
    progress.step = p.step;
    progress.elapsed_seconds = p.elapsed_seconds;
    save_run_checkpoint(run, options.spec, *model, cameras, progress, mlp_adam.state("mlp."));
  };

  TrainSummary summary;
  int64_t n_rays = tc.initial_rays;
  int64_t samples_trained = 0;
  double loss_ema = 0, mse_ema = 0;
  while (loop.next()) {
    const int64_t step = loop.step();
    kernels::AdamHyper hyper{loop.exponential_lr(tc.lr, tc.lr_final_fraction), tc.beta1, tc.beta2, tc.eps, 0.0};

    if (step % tc.grid_update_interval == 0) model->update_occupancy(step);
    sampler.advance(step);

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
      loss_ema = step == loop.first_step() ? l : 0.95 * loss_ema + 0.05 * l;
      mse_ema = step == loop.first_step() ? mse : 0.95 * mse_ema + 0.05 * mse;
    }
    samples_trained += out.n_samples;
    // Keep ~target_samples per step as the occupancy grid sparsifies (nerfacc's dynamic batch size).
    const double per_ray = static_cast<double>(std::max<int64_t>(out.n_samples, 1)) / static_cast<double>(n_rays);
    n_rays = std::clamp<int64_t>(static_cast<int64_t>(tc.target_samples / per_ray), 256, tc.max_rays);

    const double train_psnr = mse_ema > 0 ? -10.0 * std::log10(mse_ema) : 0.0;
    loop.end_step(fmt::format("loss {:.4f} psnr {:.2f} rays {} samples/ray {:.1f} occ {:.3f}", loss_ema, train_psnr,
                              n_rays, per_ray, model->occupancy_fraction()),
                  {{"loss", loss_ema}, {"train_psnr", train_psnr}, {"rays", n_rays}, {"samples_per_ray", per_ray}});
    if (loop.eval_due())
      loop.pause([&] {
        std::vector<const View*> subset(test_views.begin(),
                                        test_views.begin() + std::min<size_t>(test_views.size(), tc.eval_views));
        const EvalResult r = evaluate(*model, subset, eval_background, {}, false, &options.reload);
        loop.log({{"test_psnr", r.psnr}, {"test_ssim", r.ssim}, {"test_views", subset.size()}});
        log::info("step {}: test psnr {:.2f} ssim {:.4f} ({} views)", loop.step(), r.psnr, r.ssim, subset.size());
      });
    if (loop.checkpoint_due()) loop.pause(save);
  }
  loop.finish();
  summary.interrupted = loop.interrupted();
  summary.steps = loop.step() - loop.first_step();
  summary.seconds = loop.session_seconds();
  summary.samples_per_second = summary.seconds > 0 ? static_cast<double>(samples_trained) / summary.seconds : 0;
  save();
  log::info("trained {} steps in {} ({:.2f} M samples/s){}; checkpoint {}", summary.steps,
            format_duration(summary.seconds), summary.samples_per_second / 1e6,
            summary.interrupted ? " (interrupted)" : "", run.checkpoint().string());

  if (!test_views.empty() && !summary.interrupted) {
    summary.final_eval =
        evaluate(*model, test_views, eval_background, run.eval_dir(), options.show_progress, &options.reload);
    nlohmann::json metrics = summary.final_eval.to_json();
    metrics["step"] = progress.step;
    metrics["train_seconds"] = progress.elapsed_seconds;
    metrics["image_memory"] = sampler.plan().to_json();
    metrics["image_memory"]["peak_bytes"] = sampler.peak_bytes();
    write_file_atomic(run.eval_dir() / "metrics.json", metrics.dump(2) + "\n");
    loop.log({{"test_psnr", summary.final_eval.psnr},
              {"test_ssim", summary.final_eval.ssim},
              {"test_views", test_views.size()}});
  }
  return summary;
}

}  // namespace semfield
