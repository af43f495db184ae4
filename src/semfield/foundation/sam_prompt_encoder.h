// SAM's prompt encoder (segment-anything modeling/prompt_encoder.py): random-Fourier positional encoding of
// points and box corners, learned point-type embeddings, and the mask-input downscaling network.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/foundation/sam_config.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

struct SamPromptEmbeddings {
  at::Tensor sparse;  ///< [B, N, C]: points (+ the padding point when there is no box), then box corners
  at::Tensor dense;   ///< [B, C, grid, grid]: mask_downscaling(mask) or no_mask_embed broadcast
};

class SamPromptEncoder {
 public:
  /// Declares the "prompt_encoder.*" weights of `config` in `weights`.
  SamPromptEncoder(const SamConfig& config, WeightSet& weights);

  /// All prompts are in the model frame (pixels of the resized, padded img_size x img_size input).
  /// points [B, N, 2] (x, y) with labels [B, N] (1 foreground, 0 background, -1 padding), boxes [B, 4]
  /// (x0, y0, x1, y1), masks [B, 1, 4*grid, 4*grid] low-res logits; each may be undefined.
  SamPromptEmbeddings forward(const at::Tensor& points, const at::Tensor& labels, const at::Tensor& boxes,
                              const at::Tensor& masks) const;

  /// get_dense_pe: the positional encoding of the grid cell centres, [1, C, grid, grid].
  at::Tensor dense_positional_encoding() const;

 private:
  at::Tensor encode_positions(const at::Tensor& unit_coords) const;  ///< [..., 2] in [0,1] -> [..., C]

  SamConfig m_config;
  at::Tensor m_gaussian;  ///< [2, C/2]
  at::Tensor m_point_embeddings[4];
  at::Tensor m_not_a_point, m_no_mask;
  at::Tensor m_ds0_w, m_ds0_b, m_ds1_w, m_ds1_b, m_ds3_w, m_ds3_b, m_ds4_w, m_ds4_b, m_ds6_w, m_ds6_b;
};

}  // namespace semfield::foundation
