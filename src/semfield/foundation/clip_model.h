// CLIP with a ViT image tower (openai/CLIP clip/model.py) for inference: image and text embeddings, and
// dense per-patch features in the joint space (the MaskCLIP value-path formula of the golden README).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/clip_config.h"
#include "semfield/foundation/clip_tokenizer.h"
#include "semfield/foundation/state_dict_binding.h"
#include "semfield/foundation/transformer_ops.h"

namespace semfield::foundation {

/// How dense per-patch features are made from the last block.
enum class ClipDense {
  MaskClip,  ///< the last block's value path alone (no residual, MLP or token mixing): MaskCLIP
  Sclip,     ///< SCLIP's correlative self-attention in the last block: softmax(s q q^T) + softmax(s k k^T) over v,
             ///< residual and MLP kept, then ln_post and the projection on every patch token (Laser's variant)
};

struct ClipImageOutput {
  at::Tensor embedding;            ///< [B, E] ln_post(CLS) @ proj (not normalised)
  at::Tensor dense;                ///< [B, h*w, E] MaskCLIP features of the patches (if requested)
  at::Tensor conv1;                ///< [B, width, h, w] patchify output (if keep_intermediates)
  std::vector<at::Tensor> blocks;  ///< [B, 1 + h*w, width]: ln_pre output, then each block's output (if kept)
  int64_t grid_height = 0, grid_width = 0;
};

struct ClipTextOutput {
  at::Tensor embedding;            ///< [N, E] ln_final at the EOT (argmax id) position @ text_projection
  std::vector<at::Tensor> blocks;  ///< [N, ctx, width]: token + position embedding, then each block's output
};

class ClipModel {
 public:
  explicit ClipModel(ClipConfig config);
  /// Loads weights (file or folder; OpenAI .pt TorchScript, torch.save state dicts, HF safetensors/.bin) and,
  /// when present beside them, the tokenizer files.
  static ClipModel load(const std::filesystem::path& path);

  const ClipConfig& config() const { return m_config; }
  const WeightSet& weights() const { return m_weights; }
  bool has_tokenizer() const { return m_tokenizer != nullptr; }
  /// The tokenizer found beside the weights; UsageError if there was none.
  const ClipTokenizer& tokenizer() const;
  void set_tokenizer(std::shared_ptr<const ClipTokenizer> tokenizer) { m_tokenizer = std::move(tokenizer); }

  /// images [B, 3, H, W] normalised, H and W multiples of the patch size. A patch grid other than the
  /// checkpoint's uses a bicubically resized position table (align_corners=False; not in the reference, which
  /// only runs at its own resolution). `dense` adds the MaskCLIP patch features.
  ClipImageOutput encode_image(const at::Tensor& images, bool dense = false, bool keep_intermediates = false,
                               ClipDense dense_mode = ClipDense::MaskClip) const;
  /// tokens [N, context_length] int64 (ClipTokenizer::tokenize).
  ClipTextOutput encode_text(const at::Tensor& tokens, bool keep_intermediates = false) const;
  /// exp(logit_scale) * cos(image_i, text_j): [B, N]
  at::Tensor logits_per_image(const at::Tensor& image_embeddings, const at::Tensor& text_embeddings) const;

  /// The reference image transform: uint8 RGB [H, W, 3] -> Resize(short side to image_resolution, PIL bicubic),
  /// CenterCrop, ToTensor, Normalize -> [1, 3, R, R].
  at::Tensor preprocess(const at::Tensor& rgb_uint8) const;
  /// RGB [H, W, 3] float in [0,1] -> [1, 3, H, W] normalised with the CLIP mean/std.
  at::Tensor normalize(const at::Tensor& rgb) const;

 private:
  std::vector<PreNormBlockWeights> declare_tower(const std::string& prefix, int64_t width, int64_t layers);
  at::Tensor position_table(int64_t grid_h, int64_t grid_w) const;

  ClipConfig m_config;
  WeightSet m_weights;
  std::shared_ptr<const ClipTokenizer> m_tokenizer;
  at::Tensor m_class_embedding, m_visual_pos, m_visual_proj, m_conv1, m_ln_pre_w, m_ln_pre_b, m_ln_post_w, m_ln_post_b;
  std::vector<PreNormBlockWeights> m_visual_blocks;
  at::Tensor m_text_pos, m_text_projection, m_logit_scale, m_token_embedding, m_ln_final_w, m_ln_final_b;
  std::vector<PreNormBlockWeights> m_text_blocks;
};

}  // namespace semfield::foundation
