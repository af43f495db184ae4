// DINO ViT (facebookresearch/dino vision_transformer.py) for inference: dense patch features of images of any
// size (position table interpolated as the reference does) and the last block's CLS attention.
#pragma once

#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/dino_config.h"
#include "semfield/foundation/state_dict_binding.h"
#include "semfield/foundation/transformer_ops.h"

namespace semfield::foundation {

struct DinoOutput {
  at::Tensor tokens;            ///< [B, 1 + h*w, C] after the final LayerNorm (CLS first, patches row-major)
  at::Tensor last_attention;    ///< [B, heads, 1 + h*w, 1 + h*w] softmax of the last block (if requested)
  std::vector<at::Tensor> blocks;  ///< [B, 1 + h*w, C] input of the blocks (index 0) and each block's output
  int64_t grid_height = 0, grid_width = 0;

  /// tokens[:, 1:] as [B, h, w, C]
  at::Tensor patch_grid() const;
};

class DinoModel {
 public:
  /// Declares the weights of `config` (zero until bound or randomised).
  explicit DinoModel(DinoConfig config);

  /// Loads a weight file or folder (see model_files.h), converting naming variants, reading config.json or
  /// inferring the configuration; throws InputError naming the file on any mismatch.
  static DinoModel load(const std::filesystem::path& path);

  const DinoConfig& config() const { return m_config; }
  const WeightSet& weights() const { return m_weights; }

  /// images [B, 3, H, W] normalised; patches beyond the last whole patch are ignored (conv stride).
  /// keep_blocks keeps every block input/output; last_attention keeps the last block's attention.
  DinoOutput forward(const at::Tensor& images, bool keep_blocks = false, bool last_attention = false) const;

  /// The keys of block `block` (0-based): LayerNorm1 of the block's input through the key third of its qkv projection,
  /// heads concatenated head-major (the reference's qkv.reshape(B, N, 3, heads, C / heads)[:, :, 1]), [B, 1 + h*w, C]
  /// with CLS first. Runs blocks 0 .. block-1 only. FeatureNeRF's teacher facet (block 9 of ViT-S/8).
  at::Tensor block_keys(const at::Tensor& images, int64_t block, int64_t* grid_h = nullptr,
                        int64_t* grid_w = nullptr) const;
  int64_t depth() const { return static_cast<int64_t>(m_blocks.size()); }

  /// `prepare_tokens`: [CLS] + patch embeddings + position table, [B, 1 + h*w, C].
  at::Tensor prepare_tokens(const at::Tensor& images, int64_t* grid_h = nullptr, int64_t* grid_w = nullptr) const;

  /// `interpolate_pos_encoding` for an image of height x width pixels: [1, 1 + h*w, C]. The reference's
  /// bicubic interpolation is given the scale factors ((h + 0.1) / N, (w + 0.1) / N) for an N x N table and
  /// maps coordinates with them (not with the size ratio); the table is returned unchanged when the token
  /// count matches and the image is square.
  at::Tensor interpolate_pos_encoding(int64_t height, int64_t width) const;

  /// RGB [H, W, 3] float in [0, 1] -> [1, 3, H, W] normalised with the configured mean and std
  /// (ToTensor + Normalize of the reference transforms).
  at::Tensor normalize(const at::Tensor& rgb) const;

 private:
  struct Block {
    PreNormBlockWeights w;
  };
  DinoConfig m_config;
  WeightSet m_weights;
  at::Tensor m_cls_token, m_pos_embed, m_patch_weight, m_patch_bias, m_norm_weight, m_norm_bias;
  std::vector<Block> m_blocks;
};

}  // namespace semfield::foundation
