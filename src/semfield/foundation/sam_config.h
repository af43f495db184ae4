// Hyper-parameters of Segment Anything (segment-anything build_sam.py: image encoder, prompt encoder, mask
// decoder with its two-way transformer).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

struct SamConfig {
  // Image encoder (ImageEncoderViT)
  int64_t img_size = 1024;
  int64_t patch_size = 16;
  int64_t embed_dim = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  int64_t out_chans = 256;
  bool qkv_bias = true;
  bool use_abs_pos = true;
  bool use_rel_pos = true;
  int64_t window_size = 14;
  std::vector<int64_t> global_attn_indexes{2, 5, 8, 11};
  double encoder_eps = 1e-6;      ///< blocks' nn.LayerNorm
  double layer_norm_2d_eps = 1e-6;  ///< LayerNorm2d in the neck, mask downscaling and upscaling
  // Prompt encoder
  int64_t prompt_embed_dim = 256;
  int64_t mask_in_chans = 16;
  // Mask decoder and TwoWayTransformer
  int64_t transformer_dim = 256;
  int64_t decoder_depth = 2;
  int64_t decoder_heads = 8;
  int64_t decoder_mlp_dim = 2048;
  int64_t attention_downsample_rate = 2;
  int64_t num_multimask_outputs = 3;
  int64_t iou_head_depth = 3;
  int64_t iou_head_hidden_dim = 256;
  double decoder_eps = 1e-5;      ///< the decoder's nn.LayerNorm (reference default eps)
  // Preprocessing (pixel values 0..255)
  std::array<double, 3> pixel_mean{123.675, 116.28, 103.53};
  std::array<double, 3> pixel_std{58.395, 57.12, 57.375};

  int64_t grid() const { return img_size / patch_size; }  ///< image embedding side (64)
  int64_t mlp_hidden() const { return static_cast<int64_t>(static_cast<double>(embed_dim) * mlp_ratio); }
  bool is_global(int64_t block) const;
  std::string describe() const;
  /// vit_b, vit_l, vit_h as in build_sam.py.
  static SamConfig preset(const std::string& name);
};

/// From tensor shapes of a segment-anything-named state dict: encoder width/depth/patch/grid, heads from the
/// rel-pos tables (head_dim = their width), window size and global blocks from the tables' lengths, neck and
/// decoder widths, depths and head counts of the MLPs; decoder heads default to 8. Then overridden by
/// `config_json` when given: the golden format (image_encoder / prompt_encoder / mask_decoder sections) or
/// Hugging Face SamConfig (vision_config / prompt_encoder_config / mask_decoder_config; its layer_norm_eps
/// values are taken as given).
SamConfig sam_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                         const std::filesystem::path& origin);

}  // namespace semfield::foundation
