// `semfield render`: render dataset views or an orbit from a trained run to PNGs.
#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/progress.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/colormap.h"

namespace semfield::cli {

namespace {

struct RenderArgs {
  std::string run, out, split, background;
  int orbit = 0;
};

void run_render(const RenderArgs& args) {
  if (args.split.empty() == (args.orbit == 0)) fail_usage("render: give exactly one of --split or --orbit N");
  const LoadedRun loaded = load_run(args.run);
  const Eigen::Vector3f background =
      parse_background(args.background.empty() ? loaded.spec.config.render.background : args.background);
  std::vector<std::pair<std::string, Camera>> jobs;
  if (!args.split.empty()) {
    const Split split = parse_split(args.split);
    for (const auto& c : loaded.cameras)
      if (c.split == split) jobs.emplace_back(c.name, c.camera);
    if (jobs.empty()) fail_usage("render: the run has no {} views", args.split);
  } else {
    std::vector<Camera> dataset;
    for (const auto& c : loaded.cameras) dataset.push_back(c.camera);
    int i = 0;
    for (const Camera& cam : orbit_cameras(dataset, args.orbit)) jobs.emplace_back(fmt::format("orbit_{:03}", i++), cam);
  }
  const std::filesystem::path out(args.out);
  ProgressBar bar("render", static_cast<int64_t>(jobs.size()), "view");
  double seconds = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const RenderedView view = render_view(*loaded.model, jobs[i].second, background);
    seconds += view.seconds;
    write_png(out / (jobs[i].first + ".png"), view.rgb);
    write_png(out / (jobs[i].first + "_depth.png"), apply_turbo(view.depth));
    write_png(out / (jobs[i].first + "_opacity.png"), view.opacity);
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  std::printf("rendered %zu views to %s (%.3f s per view)\n", jobs.size(), out.c_str(), seconds / jobs.size());
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto args = std::make_shared<RenderArgs>();
  CLI::App* cmd = app.add_subcommand("render", "Render RGB, depth and opacity PNGs from a trained run");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--split", args->split, "Render the dataset cameras of this split (train | val | test)");
  cmd->add_option("--orbit", args->orbit, "Render N views on a circle around the scene")->check(CLI::Range(1, 10000));
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--background", args->background, "white | black | r,g,b (default: the run's)");
  cmd->callback([args] { run_render(*args); });
}

}  // namespace semfield::cli
