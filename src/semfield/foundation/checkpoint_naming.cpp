// Checkpoint naming conversions (facts from the Hugging Face conversion scripts' key tables).
#include "semfield/foundation/checkpoint_naming.h"

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/foundation/state_dict_binding.h"
#include "semfield/foundation/torch_checkpoint.h"
#include "semfield/core/strings.h"

namespace semfield::foundation {

namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

void put(TensorMap& out, const std::string& name, at::Tensor t, const std::filesystem::path& origin) {
  if (out.count(name)) fail_input(origin, name, "two checkpoint tensors map to this name");
  out[name] = std::move(t);
}

// HF MLP heads hold proj_in, layers.0..n-3, proj_out; the reference holds layers.0..n-1.
std::string sam_mlp_name(const std::string& name, int64_t depth) {
  for (const char* head : {"iou_prediction_head.", "output_hypernetworks_mlps."}) {
    const size_t at = name.find(head);
    if (at == std::string::npos) continue;
    size_t start = at + std::string(head).size();
    if (std::string(head) == "output_hypernetworks_mlps.") start = name.find('.', start) + 1;  // skip the index
    const std::string rest = name.substr(start);
    std::string mapped;
    if (starts_with(rest, "proj_in.")) {
      mapped = "layers.0." + rest.substr(8);
    } else if (starts_with(rest, "proj_out.")) {
      mapped = "layers." + std::to_string(depth - 1) + "." + rest.substr(9);
    } else if (starts_with(rest, "layers.")) {
      const size_t dot = rest.find('.', 7);
      mapped = "layers." + std::to_string(std::stoll(rest.substr(7, dot - 7)) + 1) + rest.substr(dot);
    } else {
      return name;
    }
    return name.substr(0, start) + mapped;
  }
  return name;
}

int64_t hf_mlp_depth(const TensorMap& tensors, const std::string& prefix) {
  return count_indexed(tensors, prefix + "layers.") + 2;
}

at::Tensor concat_qkv(const TensorMap& tensors, const std::string& q, const std::string& k, const std::string& v,
                      const std::filesystem::path& origin) {
  return at::cat({require_tensor(tensors, q, origin, "the packed qkv projection"),
                  require_tensor(tensors, k, origin, "the packed qkv projection"),
                  require_tensor(tensors, v, origin, "the packed qkv projection")},
                 0);
}

}  // namespace

TensorMap sam_reference_names(const TensorMap& tensors, const std::filesystem::path& origin) {
  TensorMap out;
  const bool hf = has_prefix(tensors, "vision_encoder.");
  const int64_t iou_depth = hf_mlp_depth(tensors, "mask_decoder.iou_prediction_head.");
  const int64_t hyper_depth = hf_mlp_depth(tensors, "mask_decoder.output_hypernetworks_mlps.0.");
  for (const auto& [key, tensor] : tensors) {
    if (key == "pixel_mean" || key == "pixel_std") continue;
    if (!hf) {
      put(out, key, tensor, origin);
      continue;
    }
    if (key == "shared_image_embedding.positional_embedding") {
      // The HF model holds this buffer twice (also under the prompt encoder); keep one copy.
      if (!tensors.count("prompt_encoder.shared_embedding.positional_embedding"))
        put(out, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", tensor, origin);
      continue;
    }
    std::string n = key;
    n = replace_all(n, "vision_encoder.", "image_encoder.");
    n = replace_all(n, "image_encoder.layers.", "image_encoder.blocks.");
    n = replace_all(n, "patch_embed.projection", "patch_embed.proj");
    n = replace_all(n, "neck.conv1", "neck.0");
    n = replace_all(n, "neck.layer_norm1", "neck.1");
    n = replace_all(n, "neck.conv2", "neck.2");
    n = replace_all(n, "neck.layer_norm2", "neck.3");
    n = replace_all(n, "mask_embed.conv1", "mask_downscaling.0");
    n = replace_all(n, "mask_embed.layer_norm1", "mask_downscaling.1");
    n = replace_all(n, "mask_embed.conv2", "mask_downscaling.3");
    n = replace_all(n, "mask_embed.layer_norm2", "mask_downscaling.4");
    n = replace_all(n, "mask_embed.conv3", "mask_downscaling.6");
    n = replace_all(n, "upscale_conv1", "output_upscaling.0");
    n = replace_all(n, "upscale_layer_norm", "output_upscaling.1");
    n = replace_all(n, "upscale_conv2", "output_upscaling.3");
    n = replace_all(n, ".layer_norm", ".norm");
    n = replace_all(n, "prompt_encoder.point_embed.", "prompt_encoder.point_embeddings.");
    n = replace_all(n, "prompt_encoder.shared_embedding.positional_embedding",
                    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    n = sam_mlp_name(n, n.find("iou_prediction_head") != std::string::npos ? iou_depth : hyper_depth);
    put(out, n, tensor, origin);
  }
  return out;
}

TensorMap clip_reference_names(const TensorMap& tensors, const std::filesystem::path& origin) {
  if (has_prefix(tensors, "visual.layer1."))
    fail_input(origin, "visual.layer1", "ResNet CLIP image towers (RN50, ...) are not supported; use a ViT CLIP");
  if (!has_prefix(tensors, "text_model.") && !has_prefix(tensors, "vision_model.")) {
    // OpenAI's TorchScript archives also carry these scalars, which clip.load drops too.
    TensorMap out = tensors;
    for (const char* scalar : {"input_resolution", "context_length", "vocab_size"}) out.erase(scalar);
    return out;
  }
  TensorMap out;
  for (const auto& [key, tensor] : tensors) {
    if (ends_with(key, "position_ids")) continue;
    std::string n = key;
    if (key == "visual_projection.weight") {
      put(out, "visual.proj", tensor.t().contiguous(), origin);
      continue;
    }
    if (key == "text_projection.weight") {
      put(out, "text_projection", tensor.t().contiguous(), origin);
      continue;
    }
    if (n.find("self_attn.q_proj.") != std::string::npos) {
      const std::string kind = ends_with(n, ".weight") ? "weight" : "bias";
      const std::string base = n.substr(0, n.find("self_attn.q_proj."));
      const at::Tensor packed = concat_qkv(tensors, key, base + "self_attn.k_proj." + kind,
                                           base + "self_attn.v_proj." + kind, origin);
      n = base + "attn.in_proj_" + kind;
      n = replace_all(n, "text_model.encoder.layers.", "transformer.resblocks.");
      n = replace_all(n, "vision_model.encoder.layers.", "visual.transformer.resblocks.");
      put(out, n, packed, origin);
      continue;
    }
    if (n.find("self_attn.k_proj.") != std::string::npos || n.find("self_attn.v_proj.") != std::string::npos) continue;
    n = replace_all(n, "text_model.embeddings.token_embedding.weight", "token_embedding.weight");
    n = replace_all(n, "text_model.embeddings.position_embedding.weight", "positional_embedding");
    n = replace_all(n, "text_model.final_layer_norm", "ln_final");
    n = replace_all(n, "vision_model.embeddings.class_embedding", "visual.class_embedding");
    n = replace_all(n, "vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight");
    n = replace_all(n, "vision_model.embeddings.position_embedding.weight", "visual.positional_embedding");
    n = replace_all(n, "vision_model.pre_layrnorm", "visual.ln_pre");
    n = replace_all(n, "vision_model.post_layernorm", "visual.ln_post");
    n = replace_all(n, "text_model.encoder.layers.", "transformer.resblocks.");
    n = replace_all(n, "vision_model.encoder.layers.", "visual.transformer.resblocks.");
    n = replace_all(n, "self_attn.out_proj", "attn.out_proj");
    n = replace_all(n, "layer_norm1", "ln_1");
    n = replace_all(n, "layer_norm2", "ln_2");
    n = replace_all(n, "mlp.fc1", "mlp.c_fc");
    n = replace_all(n, "mlp.fc2", "mlp.c_proj");
    put(out, n, tensor, origin);
  }
  return out;
}

TensorMap dino_reference_names(const TensorMap& tensors_in, const std::filesystem::path& origin) {
  TensorMap tensors = tensors_in;
  if (has_prefix(tensors, "backbone.")) {
    TensorMap backbone;
    for (const auto& [key, tensor] : tensors)
      if (starts_with(key, "backbone.")) backbone[key.substr(9)] = tensor;
    tensors = backbone;
  }
  if (has_prefix(tensors, "vit.")) {
    TensorMap vit;
    for (const auto& [key, tensor] : tensors)
      if (starts_with(key, "vit.")) vit[key.substr(4)] = tensor;
    tensors = vit;
  }
  if (has_prefix(tensors, "register_tokens") || tensors.count("blocks.0.ls1.gamma") ||
      tensors.count("mask_token") || tensors.count("embeddings.mask_token"))
    fail_input(origin, "", "DINOv2 checkpoints are not supported (only DINO v1 ViTs)");
  if (!has_prefix(tensors, "embeddings.")) {
    TensorMap out;
    for (const auto& [key, tensor] : tensors)
      if (!starts_with(key, "head.")) out[key] = tensor;
    return out;
  }
  TensorMap out;
  for (const auto& [key, tensor] : tensors) {
    if (starts_with(key, "pooler.") || starts_with(key, "classifier.")) continue;
    std::string n = key;
    if (n.find("attention.attention.query.") != std::string::npos) {
      const std::string kind = ends_with(n, ".weight") ? "weight" : "bias";
      const std::string base = n.substr(0, n.find("attention.attention.query."));
      const at::Tensor packed = concat_qkv(tensors, key, base + "attention.attention.key." + kind,
                                           base + "attention.attention.value." + kind, origin);
      put(out, replace_all(base, "encoder.layer.", "blocks.") + "attn.qkv." + kind, packed, origin);
      continue;
    }
    if (n.find("attention.attention.key.") != std::string::npos ||
        n.find("attention.attention.value.") != std::string::npos)
      continue;
    n = replace_all(n, "embeddings.cls_token", "cls_token");
    n = replace_all(n, "embeddings.position_embeddings", "pos_embed");
    n = replace_all(n, "embeddings.patch_embeddings.projection", "patch_embed.proj");
    n = replace_all(n, "encoder.layer.", "blocks.");
    n = replace_all(n, "attention.output.dense", "attn.proj");
    n = replace_all(n, "intermediate.dense", "mlp.fc1");
    n = replace_all(n, "output.dense", "mlp.fc2");
    n = replace_all(n, "layernorm_before", "norm1");
    n = replace_all(n, "layernorm_after", "norm2");
    if (starts_with(n, "layernorm.")) n = "norm." + n.substr(10);
    put(out, n, tensor, origin);
  }
  return out;
}

}  // namespace semfield::foundation
