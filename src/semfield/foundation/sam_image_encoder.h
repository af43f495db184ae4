// SAM's ViT image encoder (segment-anything modeling/image_encoder.py): patch embedding, windowed and global
// attention blocks with decomposed relative positions, and the convolutional neck.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/sam_config.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

class SamImageEncoder {
 public:
  /// Declares the "image_encoder.*" weights of `config` in `weights`.
  SamImageEncoder(const SamConfig& config, WeightSet& weights);

  /// images [B, 3, img_size, img_size] normalised and padded -> embedding [B, out_chans, grid, grid].
  /// `intermediates`, if given, receives the patch embedding (before pos_embed) and each block's output as
  /// [B, grid, grid, embed_dim].
  at::Tensor forward(const at::Tensor& images, std::vector<at::Tensor>* intermediates = nullptr) const;

 private:
  struct Block {
    at::Tensor norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b, rel_pos_h, rel_pos_w;
    at::Tensor norm2_w, norm2_b, lin1_w, lin1_b, lin2_w, lin2_b;
    int64_t window = 0;  ///< 0: global attention
  };
  at::Tensor block_forward(const Block& block, const at::Tensor& x) const;
  at::Tensor attention(const Block& block, const at::Tensor& x) const;

  SamConfig m_config;
  at::Tensor m_patch_w, m_patch_b, m_pos_embed;
  std::vector<Block> m_blocks;
  at::Tensor m_neck0, m_neck1_w, m_neck1_b, m_neck2, m_neck3_w, m_neck3_b;
};

/// get_rel_pos: the relative-position table for q_size x k_size positions, [q_size, k_size, head_dim],
/// linearly resized first when its length is not 2 * max(q_size, k_size) - 1.
at::Tensor sam_relative_positions(int64_t q_size, int64_t k_size, const at::Tensor& table);

}  // namespace semfield::foundation
