// The segmenter for SAM-distilled fields (SAN): SAM's prompt encoder and mask decoder run on the *rendered*
// image embedding, with multi-mask output and the mask chosen by SAM's own predicted IoU.
#pragma once

#include <memory>

#include "semfield/foundation/sam_model.h"
#include "semfield/segment/segmenter.h"

namespace semfield {

/// The square camera whose grid x grid pixels are the cells of SAM's image embedding for `camera`'s image:
/// SAM resizes the longest side to img_size and pads the rest, so its grid covers a max(H, W)-pixel square from
/// the image's top-left corner. The camera keeps its intrinsics and pose and is extended to that square (cells
/// beyond the image see the scene beyond the image, where SAM itself would see zero padding: the decoder's masks
/// are cropped to the image, so those cells only give context), then resized to grid x grid.
Camera sam_embedding_camera(const Camera& camera, int64_t grid);

class SamSegmenter final : public Segmenter {
 public:
  /// `source` (features of `sam`'s image embeddings: a field distilled from them) must outlive the segmenter;
  /// UsageError for a source with classes or another channel count.
  SamSegmenter(const SemanticSource& source, std::shared_ptr<const foundation::SamModel> sam);

  std::string method() const override { return "sam-decoder"; }
  /// maps = the rendered embedding [C, grid, grid]; depth and opacity at the image resolution (radiance model).
  SegmentView prepare(const Camera& camera, const std::string& name) const override;
  /// Points (label 1 / 0) and the box go to SAM's prompt encoder; of the multimask outputs the one with the
  /// highest predicted IoU wins; mask = its logits > 0 at the image resolution.
  at::Tensor segment(const SegmentView& view, const Prompts& prompts) override;
  /// Re-projected clicks as point prompts; without a visible positive click, the bounding box of `seed` as a box
  /// prompt; with neither, an empty mask.
  at::Tensor follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const override;

  /// SAM's prediction for prompts on a prepared view (all candidate masks), for callers that want them.
  foundation::SamPrediction predict(const SegmentView& view, const Prompts& prompts) const;
  /// Index of the candidate with the highest predicted IoU.
  static int64_t best_mask(const foundation::SamPrediction& prediction);
  const foundation::SamModel& sam() const { return *m_sam; }

 private:
  /// bool [H,W]: the best candidate's logits > 0 at the view's size (only that candidate upscaled).
  at::Tensor best_mask_of(const SegmentView& view, const Prompts& prompts) const;

  const SemanticSource& m_source;
  std::shared_ptr<const foundation::SamModel> m_sam;
};

}  // namespace semfield
