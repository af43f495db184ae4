// Evaluation of a radiance model on posed ground-truth views: PSNR and SSIM per view and mean, plus renders.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/models/scene_model.h"
#include "semfield/pipeline/view_renderer.h"

namespace semfield {

struct ViewMetrics {
  std::string name;
  double psnr = 0, ssim = 0;
  double render_seconds = 0;
};

struct EvalResult {
  double psnr = 0, ssim = 0;  ///< means over views
  std::vector<ViewMetrics> views;
  /// {"psnr": mean, "ssim": mean, "views": [{"name","psnr","ssim","render_seconds"}...]}
  nlohmann::json to_json() const;
};

/// Renders each view with `model` and compares with its image composited over `background`. When
/// `render_dir` is non-empty, writes <name>.png (render), <name>_gt.png and <name>_depth.png there.
/// Views whose size differs from their camera's are an InputError. Views without pixels (a scene loaded
/// without images) are decoded one at a time with load_view_colour(view, *reload) when `reload` is given
/// (memory: one image at a time), and are an InputError otherwise.
EvalResult evaluate(const SceneModel& model, const std::vector<const View*>& views,
                    const Eigen::Vector3f& background, const std::filesystem::path& render_dir = {},
                    bool show_progress = true, const LoadOptions* reload = nullptr);

/// A camera's colour, depth and opacity pictures (render_view of a model over the evaluation's background, or a pass
/// that also renders the view's semantics: ViewOutputCache::render_colour).
using ViewRenderer = std::function<RenderedView(const Camera&)>;
/// The same with the views rendered by `render`.
EvalResult evaluate(const ViewRenderer& render, const std::vector<const View*>& views,
                    const Eigen::Vector3f& background, const std::filesystem::path& render_dir = {},
                    bool show_progress = true, const LoadOptions* reload = nullptr);

}  // namespace semfield
