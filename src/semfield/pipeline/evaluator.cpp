// Evaluation of a radiance model.
#include "semfield/pipeline/evaluator.h"

#include "semfield/core/error.h"
#include "semfield/core/progress.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/colormap.h"
#include "semfield/render/image_metrics.h"

namespace semfield {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json v = nlohmann::json::array();
  for (const auto& m : views)
    v.push_back({{"name", m.name}, {"psnr", m.psnr}, {"ssim", m.ssim}, {"render_seconds", m.render_seconds}});
  return {{"psnr", psnr}, {"ssim", ssim}, {"views", v}};
}

EvalResult evaluate(const SceneModel& model, const std::vector<const View*>& views,
                    const Eigen::Vector3f& background, const std::filesystem::path& render_dir,
                    bool show_progress, const LoadOptions* reload) {
  return evaluate([&](const Camera& camera) { return render_view(model, camera, background); }, views, background,
                  render_dir, show_progress, reload);
}

EvalResult evaluate(const ViewRenderer& render, const std::vector<const View*>& views,
                    const Eigen::Vector3f& background, const std::filesystem::path& render_dir,
                    bool show_progress, const LoadOptions* reload) {
  EvalResult result;
  std::unique_ptr<ProgressBar> bar;
  if (show_progress) bar = std::make_unique<ProgressBar>("eval", static_cast<int64_t>(views.size()), "view");
  for (const View* view : views) {
    Image decoded;
    if (view->rgb.empty()) {
      if (!reload) fail_input(view->image_path, "", "image not loaded");
      decoded = load_view_colour(*view, *reload);
    }
    const Image& colour = view->rgb.empty() ? decoded : view->rgb;
    const Intrinsics& k = view->camera.intrinsics;
    if (colour.width != k.width || colour.height != k.height)
      fail_input(view->image_path, "", "image is {}x{} but its camera is {}x{}", colour.width, colour.height,
                 k.width, k.height);
    const RenderedView rendered = render(view->camera);
    const Image gt = composite_over(colour, background);
    ViewMetrics m;
    m.name = view->name;
    m.psnr = psnr(rendered.rgb, gt);
    m.ssim = ssim(rendered.rgb, gt);
    m.render_seconds = rendered.seconds;
    result.views.push_back(m);
    if (!render_dir.empty()) {
      write_png(render_dir / (view->name + ".png"), rendered.rgb);
      write_png(render_dir / (view->name + "_gt.png"), gt);
      write_png(render_dir / (view->name + "_depth.png"), apply_turbo(rendered.depth));
    }
    if (bar) bar->update(static_cast<int64_t>(result.views.size()), fmt::format("psnr {:.2f}", m.psnr));
  }
  for (const auto& m : result.views) {
    result.psnr += m.psnr / static_cast<double>(result.views.size());
    result.ssim += m.ssim / static_cast<double>(result.views.size());
  }
  return result;
}

}  // namespace semfield
