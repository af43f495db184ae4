// Hyper-parameters of a CLIP model with a ViT image tower (openai/CLIP clip/model.py build_model).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

struct ClipConfig {
  int64_t embed_dim = 512;          ///< joint embedding width
  int64_t image_resolution = 224;
  int64_t vision_layers = 12;
  int64_t vision_width = 768;
  int64_t vision_patch_size = 16;
  int64_t vision_heads = 12;
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t transformer_width = 512;
  int64_t transformer_heads = 8;
  int64_t transformer_layers = 12;
  double layer_norm_eps = 1e-5;
  bool quick_gelu = true;           ///< OpenAI models use QuickGELU; HF configs may say "gelu"
  std::array<double, 3> image_mean{0.48145466, 0.4578275, 0.40821073};
  std::array<double, 3> image_std{0.26862954, 0.26130258, 0.27577711};

  int64_t grid() const { return image_resolution / vision_patch_size; }
  std::string describe() const;
  /// ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px as released by OpenAI.
  static ClipConfig preset(const std::string& name);
};

/// As build_model infers it from an openai-named state dict (widths, layer counts, patch, resolution, context,
/// vocabulary; heads = width / 64), then overridden by `config_json` when given: the golden format (the
/// build_model argument names) or Hugging Face CLIPConfig (projection_dim, text_config, vision_config).
ClipConfig clip_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                           const std::filesystem::path& origin);

}  // namespace semfield::foundation
