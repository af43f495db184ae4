// SAM's mask decoder (segment-anything modeling/mask_decoder.py + transformer.py): a two-way transformer
// between prompt tokens and image embedding, transposed-convolution upscaling, hypernetwork mask heads and
// the IoU head.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/sam_config.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

struct SamDecoderOutput {
  at::Tensor masks;  ///< [B, K, 4*grid, 4*grid] low-resolution mask logits
  at::Tensor iou;    ///< [B, K] predicted mask quality
};

class SamMaskDecoder {
 public:
  /// Declares the "mask_decoder.*" weights of `config` in `weights`.
  SamMaskDecoder(const SamConfig& config, WeightSet& weights);

  /// image_embeddings [1 or B, C, g, g], image_pe [1, C, g, g], sparse [B, N, C], dense [B, C, g, g].
  /// multimask: masks 1..K (K = num_multimask_outputs) instead of mask 0 alone.
  SamDecoderOutput forward(const at::Tensor& image_embeddings, const at::Tensor& image_pe, const at::Tensor& sparse,
                           const at::Tensor& dense, bool multimask) const;

 private:
  struct Attention {
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
  };
  struct Layer {
    Attention self_attn, token_to_image, image_to_token;
    at::Tensor norm_w[4], norm_b[4];
    at::Tensor lin1_w, lin1_b, lin2_w, lin2_b;
  };
  struct Mlp {
    std::vector<at::Tensor> w, b;
  };
  Attention declare_attention(WeightSet& weights, const std::string& prefix, int64_t internal);
  Mlp declare_mlp(WeightSet& weights, const std::string& prefix, int64_t in, int64_t hidden, int64_t out, int64_t layers);
  at::Tensor attend(const Attention& a, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) const;
  at::Tensor mlp(const Mlp& m, at::Tensor x) const;
  at::Tensor norm(const Layer& l, int i, const at::Tensor& x) const;

  SamConfig m_config;
  std::vector<Layer> m_layers;
  Attention m_final_attn;
  at::Tensor m_norm_final_w, m_norm_final_b, m_iou_token, m_mask_tokens;
  at::Tensor m_up0_w, m_up0_b, m_up1_w, m_up1_b, m_up3_w, m_up3_b;
  std::vector<Mlp> m_hypernetworks;
  Mlp m_iou_head;
};

}  // namespace semfield::foundation
