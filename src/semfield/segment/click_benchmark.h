// The click-segmentation benchmark of the synthetic scenes (issue 6 targets): one click at an object's visible
// centre in one view, followed into every held-out view, scored by IoU against the ground-truth instance masks.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "semfield/data/scene.h"
#include "semfield/segment/segment_session.h"

namespace semfield {

struct ObjectClickResult {
  int64_t instance = 0;
  std::string prompted_view;
  Eigen::Vector2d click{0, 0};
  double prompted_iou = 0;                               ///< in the prompted view itself
  std::vector<std::pair<std::string, double>> view_iou;  ///< per held-out view
  at::Tensor prompted_mask;                              ///< bool [H,W] of the prompted view
  std::vector<at::Tensor> view_masks;                    ///< bool [H,W] per held-out view, in view_iou's order
  double mean_iou = 0;                                   ///< over the held-out views
  double click_ms = 0;                                   ///< prompt -> mask in the prompted view (render excluded)
  Selection selection;                                   ///< the 3D selection after all views
};

/// Instance ids (>= 2: objects, as the synthetic generator numbers them) present in the scene's instance maps.
std::vector<int64_t> object_instances(const Scene& scene);

/// The protocol's click on one object: the training view where the object shows the most pixels, and the visible
/// centre of its ground-truth mask there (mask_metrics.h interior_point). UsageError when the object is in no
/// training view.
struct ObjectClick {
  const View* view = nullptr;
  Eigen::Vector2d click{0, 0};
};
ObjectClick object_click(const Scene& scene, int64_t instance);

/// The protocol for one object: the prompted view and click are object_click's; the session
/// prompts that view, then follows every test view in order; each test view's mask is scored by IoU against the
/// object's instance mask (1 when both are empty). `scene` must carry instance maps and be in the run's
/// normalised frame (load_run_scene). UsageError when the object is in no training view.
ObjectClickResult segment_object_by_click(Segmenter& segmenter, const SceneModel& radiance, const Scene& scene,
                                          int64_t instance, const SessionOptions& options = {});

/// bool [H,W]: the view's instance map equals `instance` (UsageError if the view has no instance map).
at::Tensor instance_mask(const View& view, int64_t instance);

}  // namespace semfield
