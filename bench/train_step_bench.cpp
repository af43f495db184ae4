// Where a radiance-field training step spends its time: times each phase of the step (sampling rays,
// marching, hash-grid forward, MLPs, compositing, backward, optimisers, occupancy update) on a scene.
// Usage: train_step_bench DATA_DIR [steps=60] [threads=2]
#include <chrono>
#include <cstdio>
#include <map>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/runtime_settings.h"
#include "semfield/core/parallel.h"
#include "semfield/data/scene.h"
#include "semfield/fields/activations.h"
#include "semfield/fields/spherical_harmonics.h"
#include "semfield/kernels/composite.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/kernels/hash_grid.h"
#include "semfield/models/radiance_model.h"
#include "semfield/train/adam.h"
#include "semfield/train/pixel_sampler.h"

using namespace semfield;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);  // as the CLI (runtime_settings.h)
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR [steps] [threads]\n", argv[0]);
    return 2;
  }
  const int steps = argc > 2 ? std::atoi(argv[2]) : 60;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  if (!std::getenv("SEMFIELD_NO_CACHING_ALLOCATOR")) kernels::install_caching_cpu_allocator();
  at::set_num_threads(threads);
  set_parallel_threads(threads);
  const Scene scene = load_scene(argv[1]);
  RadianceConfig config;
  RadianceModel model(config, SceneFrame::from_scene(scene));
  PixelSampler sampler(scene.split(Split::Train));
  DenseAdam adam(model.field().mlp_parameters());
  std::map<std::string, double> total;
  int64_t samples = 0, n_rays = config.train.initial_rays;
  auto tic = Clock::now();
  auto lap = [&](const char* name) {
    const auto now = Clock::now();
    total[name] += std::chrono::duration<double>(now - tic).count();
    tic = now;
  };
  const int warmup = 20;  // let the occupancy grid sparsify before timing
  for (int step = 0; step < warmup + steps; ++step) {
    if (step == warmup) {
      total.clear();
      samples = 0;
    }
    tic = Clock::now();
    if (step % 16 == 0) model.update_occupancy(step + 1000);  // past warm-up: a partial update
    lap("occupancy update");
    const RayBatch batch = sampler.sample(n_rays, step);
    const at::Tensor bg = at::rand({n_rays, 3});
    const at::Tensor alpha = batch.rgba.narrow(1, 3, 1);
    const at::Tensor target = batch.rgba.narrow(1, 0, 3) * alpha + (1.0f - alpha) * bg;
    lap("sample rays");
    // Mirrors RadianceModel::render_train phase by phase.
    const PackedSamples s = model.march(batch.origins, batch.directions, /*jitter=*/true, step);
    lap("march");
    const at::Tensor xyz = model.to_unit_cube(s.positions);
    lap("to unit cube");
    const RadianceField::Output out = model.field().forward_train(xyz, s.directions);
    lap("field forward (grid + MLPs)");
    const kernels::CompositeOutputs c = kernels::composite(out.density, out.rgb, s.dts, s.ts, s.ray_offsets);
    const at::Tensor rgb = c.values + (1.0f - c.opacity).unsqueeze(1) * bg;
    const at::Tensor loss = at::huber_loss(rgb, target, at::Reduction::Mean, 0.1);
    lap("composite + loss");
    loss.backward();
    lap("backward (MLPs + composite)");
    model.field().backward_grid();
    lap("grid backward");
    model.field().step_grid({1e-2, 0.9, 0.99, 1e-15, 0});
    lap("grid sparse adam");
    adam.step({1e-2, 0.9, 0.99, 1e-15, 1e-6});
    lap("mlp adam");
    samples += s.n_samples();
    const double per_ray = static_cast<double>(std::max<int64_t>(s.n_samples(), 1)) / n_rays;
    n_rays = std::clamp<int64_t>(static_cast<int64_t>(config.train.target_samples / per_ray), 256, config.train.max_rays);
  }
  double sum = 0;
  for (const auto& [k, v] : total) sum += v;
  std::printf("%d steps, %.2f M samples/step, %.3f s/step, %.3f M samples/s (threads %d)\n", steps,
              samples / 1e6 / steps, sum / steps, samples / sum / 1e6, threads);
  for (const auto& [k, v] : total) std::printf("  %-30s %8.1f ms/step  %5.1f %%\n", k.c_str(), 1e3 * v / steps, 100 * v / sum);
}
