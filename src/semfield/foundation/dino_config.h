// Hyper-parameters of a DINO ViT (facebookresearch/dino vision_transformer.VisionTransformer).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

struct DinoConfig {
  int64_t patch_size = 16;
  int64_t embed_dim = 384;
  int64_t depth = 12;
  int64_t num_heads = 6;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double layer_norm_eps = 1e-6;
  int64_t img_size = 224;  ///< side of the square image the pos_embed grid was trained for
  std::array<double, 3> image_mean{0.485, 0.456, 0.406};
  std::array<double, 3> image_std{0.229, 0.224, 0.225};

  int64_t grid() const { return img_size / patch_size; }
  int64_t mlp_hidden() const { return static_cast<int64_t>(static_cast<double>(embed_dim) * mlp_ratio); }
  std::string describe() const;

  /// Presets of the released models: vit_small / vit_base with patch 8 or 16.
  static DinoConfig preset(const std::string& name);
};

/// From tensor shapes of a reference-named state dict (embed_dim, patch, depth, grid, mlp ratio, qkv bias;
/// heads = embed_dim / 64 as in every released DINO ViT), then overridden by `config_json` when given:
/// the golden format (patch_size, embed_dim, depth, num_heads, mlp_ratio, qkv_bias, img_size, image_mean,
/// image_std) or Hugging Face ViT (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
/// patch_size, image_size, layer_norm_eps, qkv_bias).
DinoConfig dino_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                           const std::filesystem::path& origin);

}  // namespace semfield::foundation
