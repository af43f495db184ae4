// An interactive segmentation session: prompts on one view give a mask, the clicks are lifted to 3D and the mask
// is voted into a 3D selection; in other views the clicks are re-projected and the rendered selection seeds the
// segmenter, so the selection follows the camera; further prompts on any view refine it.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/segment/click_lifting.h"
#include "semfield/segment/segmenter.h"
#include "semfield/segment/selection.h"
#include "semfield/segment/selection_voting.h"

namespace semfield {

struct SessionOptions {
  int64_t selection_resolution = 128;  ///< voxels along the longest side of the model's box
  VoteOptions votes;
  double reprojection_tolerance = 0.03;  ///< relative depth slack of the re-projected clicks' visibility test
  bool vote_followed_views = true;       ///< followed views' masks vote into the selection too
};

class SegmentSession {
 public:
  /// `segmenter` and `radiance` (the run's model) must outlive the session.
  SegmentSession(Segmenter& segmenter, const SceneModel& radiance, SessionOptions options = {});

  /// Mask bool [H,W] for prompts on a prepared view (checked with check_prompts first: UsageError for clicks outside
  /// the image). The clicks that hit a surface are lifted and kept; the mask votes into the selection. UsageError
  /// when the prompts select nothing (e.g. a click on empty space).
  at::Tensor prompt(const SegmentView& view, const Prompts& prompts);
  /// Mask of the prompted object in another prepared view: the kept clicks re-projected (visible ones only) and the
  /// pixels where the selection renders seed the segmenter's follow(). All false when the object is not in view.
  at::Tensor follow(const SegmentView& view);
  /// follow() with a seed the caller already has (bool [H,W], e.g. the selection tested at the view's own
  /// surface points, which needs no render); the mask votes into the selection only when `vote`.
  at::Tensor follow(const SegmentView& view, const at::Tensor& seed, bool vote);

  Selection& selection() { return m_selection; }
  const Selection& selection() const { return m_selection; }
  const LiftedPrompts& lifted() const { return m_lifted; }

 private:
  Segmenter& m_segmenter;
  const SceneModel& m_radiance;
  SessionOptions m_options;
  Selection m_selection;
  LiftedPrompts m_lifted;
};

}  // namespace semfield
