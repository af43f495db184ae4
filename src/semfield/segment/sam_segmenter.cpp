// SAM's mask decoder on rendered embeddings.
#include "semfield/segment/sam_segmenter.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/pipeline/feature_renderer.h"

namespace semfield {

Camera sam_embedding_camera(const Camera& camera, int64_t grid) {
  Camera square = camera;
  const int side = std::max(camera.intrinsics.width, camera.intrinsics.height);
  // Same focal length and principal point: the image is the top-left part of the larger square.
  square.intrinsics.width = side;
  square.intrinsics.height = side;
  return camera_for_map(square, grid, grid);
}

SamSegmenter::SamSegmenter(const SemanticSource& source, std::shared_ptr<const foundation::SamModel> sam)
    : m_source(source), m_sam(std::move(sam)) {
  const int64_t channels = source.channels().at(0);
  if (source.has_classes() || channels != m_sam->config().out_chans)
    fail_usage("the SAM decoder needs a field of SAM embeddings ({} channels); this field has {}",
               m_sam->config().out_chans, channels);
}

SegmentView SamSegmenter::prepare(const Camera& camera, const std::string& name) const {
  SegmentView view = render_depth_view(m_source.scene_model(), camera, name);
  const SegmentView embedding =
      render_field_view(m_source, sam_embedding_camera(camera, m_sam->config().grid()), name, 0);
  view.maps = embedding.maps;
  view.render_seconds += embedding.render_seconds;
  return view;
}

namespace {

foundation::SamPrompt sam_prompt(const Prompts& prompts) {
  foundation::SamPrompt prompt;
  for (const Eigen::Vector2d& p : prompts.positive) prompt.points.push_back({p.x(), p.y()}), prompt.labels.push_back(1);
  for (const Eigen::Vector2d& p : prompts.negative) prompt.points.push_back({p.x(), p.y()}), prompt.labels.push_back(0);
  if (prompts.box) prompt.box = std::array<double, 4>{(*prompts.box)[0], (*prompts.box)[1], (*prompts.box)[2], (*prompts.box)[3]};
  prompt.multimask = true;
  return prompt;
}

}  // namespace

foundation::SamPrediction SamSegmenter::predict(const SegmentView& view, const Prompts& prompts) const {
  return m_sam->predict(m_sam->from_embedding(view.maps.unsqueeze(0), view.height(), view.width()), sam_prompt(prompts));
}

at::Tensor SamSegmenter::best_mask_of(const SegmentView& view, const Prompts& prompts) const {
  const foundation::SamImage image = m_sam->from_embedding(view.maps.unsqueeze(0), view.height(), view.width());
  const foundation::SamPrediction prediction = m_sam->decode(image, sam_prompt(prompts));
  return (m_sam->upscale_mask(image, prediction, best_mask(prediction)) > 0).contiguous();
}

int64_t SamSegmenter::best_mask(const foundation::SamPrediction& prediction) {
  return prediction.iou.argmax().item<int64_t>();
}

at::Tensor SamSegmenter::segment(const SegmentView& view, const Prompts& prompts) {
  at::InferenceMode guard;
  return best_mask_of(view, prompts);
}

at::Tensor SamSegmenter::follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const {
  at::InferenceMode guard;
  Prompts local = prompts;
  if (local.positive.empty()) {
    if (!seed.defined() || !seed.any().item<bool>()) return at::zeros({view.height(), view.width()}, at::kBool);
    const at::Tensor rows = seed.any(1).nonzero().view(-1), cols = seed.any(0).nonzero().view(-1);
    local.box = Eigen::Vector4d(cols.min().item<double>(), rows.min().item<double>(), cols.max().item<double>(),
                                rows.max().item<double>());
  }
  return best_mask_of(view, local);
}

}  // namespace semfield
