// Prompt, lift, vote and follow: the multi-view segmentation loop.
#include "semfield/segment/segment_session.h"

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

SegmentSession::SegmentSession(Segmenter& segmenter, const SceneModel& radiance, SessionOptions options)
    : m_segmenter(segmenter),
      m_radiance(radiance),
      m_options(options),
      m_selection(empty_selection(radiance, options.selection_resolution)) {}

at::Tensor SegmentSession::prompt(const SegmentView& view, const Prompts& prompts) {
  check_prompts(prompts, view.width(), view.height(), view.name);
  const at::Tensor mask = m_segmenter.segment(view, prompts);
  if (!mask.any().item<bool>())
    fail_usage("the prompts select nothing in view {} ({} method): a click on empty space or on a region the field "
               "cannot tell apart; click inside an object",
               view.name, m_segmenter.method());
  const LiftedPrompts lifted = lift_prompts(view.camera, view.depth, prompts);
  m_lifted.positive.insert(m_lifted.positive.end(), lifted.positive.begin(), lifted.positive.end());
  m_lifted.negative.insert(m_lifted.negative.end(), lifted.negative.begin(), lifted.negative.end());
  vote_mask(m_selection, view.camera, mask, view.depth, view.opacity, m_options.votes);
  return mask;
}

at::Tensor SegmentSession::follow(const SegmentView& view) {
  return follow(view, selection_mask(m_selection, m_radiance, view.camera), m_options.vote_followed_views);
}

at::Tensor SegmentSession::follow(const SegmentView& view, const at::Tensor& seed, bool vote) {
  const Prompts clicks = reproject_prompts(m_lifted, view.camera, view.depth, m_options.reprojection_tolerance);
  const at::Tensor mask = m_segmenter.follow(view, clicks, seed);
  if (vote) vote_mask(m_selection, view.camera, mask, view.depth, view.opacity, m_options.votes);
  return mask;
}

}  // namespace semfield
