// Segment Anything as one model (segment-anything Sam + SamPredictor): set an image once, then decode any
// number of point / box / mask prompts; or decode prompts against an embedding made elsewhere (a rendered one).
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/sam_config.h"
#include "semfield/foundation/sam_image_encoder.h"
#include "semfield/foundation/sam_mask_decoder.h"
#include "semfield/foundation/sam_prompt_encoder.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

/// An image as the decoder sees it.
struct SamImage {
  at::Tensor embedding;                   ///< [1, C, grid, grid] (image-encoder output, or rendered)
  std::pair<int64_t, int64_t> original;   ///< (H, W) of the image prompts and masks refer to
  std::pair<int64_t, int64_t> input;      ///< (h, w) of its resized version inside the padded square
};

/// Prompts in ORIGINAL image pixels (SamPredictor.predict); every field is optional.
struct SamPrompt {
  std::vector<std::array<double, 2>> points;  ///< (x, y)
  std::vector<int> labels;                    ///< 1 foreground, 0 background, per point
  std::optional<std::array<double, 4>> box;   ///< x0, y0, x1, y1
  at::Tensor mask_input;                      ///< [1, 4*grid, 4*grid] low-res logits of an earlier prediction
  bool multimask = true;
};

struct SamPrediction {
  at::Tensor masks;           ///< [K, H, W] mask logits at the original size (threshold > 0 for the mask)
  at::Tensor iou;             ///< [K]
  at::Tensor low_res_logits;  ///< [K, 4*grid, 4*grid]
};

class SamModel {
 public:
  explicit SamModel(SamConfig config);
  /// Loads a weight file or folder (original .pth, safetensors, Hugging Face naming; config.json or inferred).
  static SamModel load(const std::filesystem::path& path);

  const SamConfig& config() const { return m_config; }
  const WeightSet& weights() const { return m_weights; }
  const SamImageEncoder& image_encoder() const { return *m_encoder; }
  const SamPromptEncoder& prompt_encoder() const { return *m_prompt; }
  const SamMaskDecoder& mask_decoder() const { return *m_decoder; }

  /// SamPredictor.set_image: uint8 RGB [H, W, 3] -> resize longest side, normalise, pad, encode.
  SamImage set_image(const at::Tensor& rgb_uint8) const;
  /// The decoder's view of an embedding [1, C, grid, grid] computed for an image of original_h x original_w.
  SamImage from_embedding(const at::Tensor& embedding, int64_t original_h, int64_t original_w) const;
  /// SamPredictor.predict (return_logits=True). UsageError for a label other than 0/1, points without labels, or
  /// a mask input of the wrong size.
  SamPrediction predict(const SamImage& image, const SamPrompt& prompt) const;
  /// predict() without upscaling every candidate to the original size: `masks` stays undefined. A caller that keeps
  /// one candidate upscales only that one (upscale_mask), a third of the work (~5 ms per click at 512 x 512).
  SamPrediction decode(const SamImage& image, const SamPrompt& prompt) const;
  /// Candidate k's low-resolution logits -> [H, W] logits at the image's original size (as predict()'s masks[k]).
  at::Tensor upscale_mask(const SamImage& image, const SamPrediction& prediction, int64_t k) const;

 private:
  SamConfig m_config;
  WeightSet m_weights;
  std::shared_ptr<SamImageEncoder> m_encoder;
  std::shared_ptr<SamPromptEncoder> m_prompt;
  std::shared_ptr<SamMaskDecoder> m_decoder;
};

}  // namespace semfield::foundation
