// SAM hyper-parameters: presets, inference from tensor shapes, config.json.
#include "semfield/foundation/sam_config.h"

#include <algorithm>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

bool SamConfig::is_global(int64_t block) const {
  return std::find(global_attn_indexes.begin(), global_attn_indexes.end(), block) != global_attn_indexes.end();
}

std::string SamConfig::describe() const {
  std::string globals;
  for (int64_t g : global_attn_indexes) globals += (globals.empty() ? "" : ",") + std::to_string(g);
  return fmt::format("sam ViT {}px patch {} embed_dim {} depth {} heads {} window {} global [{}] out {} | decoder dim {} "
                     "depth {} heads {} mlp {}",
                     img_size, patch_size, embed_dim, depth, num_heads, window_size, globals, out_chans,
                     transformer_dim, decoder_depth, decoder_heads, decoder_mlp_dim);
}

SamConfig SamConfig::preset(const std::string& name) {
  SamConfig c;
  if (name == "vit_b") {
  } else if (name == "vit_l") {
    c.embed_dim = 1024, c.depth = 24, c.num_heads = 16, c.global_attn_indexes = {5, 11, 17, 23};
  } else if (name == "vit_h") {
    c.embed_dim = 1280, c.depth = 32, c.num_heads = 16, c.global_attn_indexes = {7, 15, 23, 31};
  } else {
    fail_usage("unknown SAM preset '{}'; valid: vit_b, vit_l, vit_h", name);
  }
  return c;
}

namespace {

std::vector<int64_t> ints(const JsonNode& node) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < node.size(); ++i) out.push_back(node.at(i).as_int());
  return out;
}

void apply_golden(SamConfig& c, const JsonNode& j) {
  if (auto e = j.find("image_encoder")) {
    c.img_size = e->int_or("img_size", c.img_size);
    c.patch_size = e->int_or("patch_size", c.patch_size);
    c.embed_dim = e->int_or("embed_dim", c.embed_dim);
    c.depth = e->int_or("depth", c.depth);
    c.num_heads = e->int_or("num_heads", c.num_heads);
    c.mlp_ratio = e->double_or("mlp_ratio", c.mlp_ratio);
    c.out_chans = e->int_or("out_chans", c.out_chans);
    c.qkv_bias = e->bool_or("qkv_bias", c.qkv_bias);
    c.use_abs_pos = e->bool_or("use_abs_pos", c.use_abs_pos);
    c.use_rel_pos = e->bool_or("use_rel_pos", c.use_rel_pos);
    c.window_size = e->int_or("window_size", c.window_size);
    if (auto g = e->find("global_attn_indexes")) c.global_attn_indexes = ints(*g);
  }
  if (auto p = j.find("prompt_encoder")) {
    c.prompt_embed_dim = p->int_or("embed_dim", c.prompt_embed_dim);
    c.mask_in_chans = p->int_or("mask_in_chans", c.mask_in_chans);
  }
  if (auto d = j.find("mask_decoder")) {
    c.transformer_dim = d->int_or("transformer_dim", c.transformer_dim);
    c.num_multimask_outputs = d->int_or("num_multimask_outputs", c.num_multimask_outputs);
    c.iou_head_depth = d->int_or("iou_head_depth", c.iou_head_depth);
    c.iou_head_hidden_dim = d->int_or("iou_head_hidden_dim", c.iou_head_hidden_dim);
    if (auto t = d->find("transformer")) {
      c.decoder_depth = t->int_or("depth", c.decoder_depth);
      c.decoder_heads = t->int_or("num_heads", c.decoder_heads);
      c.decoder_mlp_dim = t->int_or("mlp_dim", c.decoder_mlp_dim);
      c.attention_downsample_rate = t->int_or("attention_downsample_rate", c.attention_downsample_rate);
    }
  }
  for (const char* key : {"pixel_mean", "pixel_std"})
    if (auto v = j.find(key)) {
      const std::vector<double> values = v->as_doubles();
      if (values.size() != 3) v->fail("expected 3 values");
      auto& dst = std::string(key) == "pixel_mean" ? c.pixel_mean : c.pixel_std;
      for (int i = 0; i < 3; ++i) dst[i] = values[i];
    }
}

void apply_hf(SamConfig& c, const JsonNode& j) {
  if (auto v = j.find("vision_config")) {
    c.embed_dim = v->int_or("hidden_size", c.embed_dim);
    c.depth = v->int_or("num_hidden_layers", c.depth);
    c.num_heads = v->int_or("num_attention_heads", c.num_heads);
    c.out_chans = v->int_or("output_channels", c.out_chans);
    c.img_size = v->int_or("image_size", c.img_size);
    c.patch_size = v->int_or("patch_size", c.patch_size);
    c.mlp_ratio = v->double_or("mlp_ratio", c.mlp_ratio);
    if (auto m = v->find("mlp_dim")) c.mlp_ratio = static_cast<double>(m->as_int()) / static_cast<double>(c.embed_dim);
    c.qkv_bias = v->bool_or("qkv_bias", c.qkv_bias);
    c.use_abs_pos = v->bool_or("use_abs_pos", c.use_abs_pos);
    c.use_rel_pos = v->bool_or("use_rel_pos", c.use_rel_pos);
    c.window_size = v->int_or("window_size", c.window_size);
    c.encoder_eps = v->double_or("layer_norm_eps", c.encoder_eps);
    if (auto g = v->find("global_attn_indexes")) c.global_attn_indexes = ints(*g);
  }
  if (auto p = j.find("prompt_encoder_config")) {
    c.prompt_embed_dim = p->int_or("hidden_size", c.prompt_embed_dim);
    c.mask_in_chans = p->int_or("mask_input_channels", c.mask_in_chans);
  }
  if (auto d = j.find("mask_decoder_config")) {
    c.transformer_dim = d->int_or("hidden_size", c.transformer_dim);
    c.decoder_mlp_dim = d->int_or("mlp_dim", c.decoder_mlp_dim);
    c.decoder_depth = d->int_or("num_hidden_layers", c.decoder_depth);
    c.decoder_heads = d->int_or("num_attention_heads", c.decoder_heads);
    c.attention_downsample_rate = d->int_or("attention_downsample_rate", c.attention_downsample_rate);
    c.num_multimask_outputs = d->int_or("num_multimask_outputs", c.num_multimask_outputs);
    c.iou_head_depth = d->int_or("iou_head_depth", c.iou_head_depth);
    c.iou_head_hidden_dim = d->int_or("iou_head_hidden_dim", c.iou_head_hidden_dim);
    c.decoder_eps = d->double_or("layer_norm_eps", c.decoder_eps);
  }
}

}  // namespace

SamConfig sam_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                         const std::filesystem::path& origin) {
  SamConfig c;
  const at::Tensor proj = require_tensor(tensors, "image_encoder.patch_embed.proj.weight", origin, "the encoder width");
  if (proj.dim() != 4)
    fail_input(origin, "image_encoder.patch_embed.proj.weight", "expected a 4-d convolution weight, got {}", describe_tensor(proj));
  c.embed_dim = proj.size(0);
  c.patch_size = proj.size(2);
  c.depth = count_indexed(tensors, "image_encoder.blocks.");
  auto pos = tensors.find("image_encoder.pos_embed");
  c.use_abs_pos = pos != tensors.end();
  if (c.use_abs_pos && pos->second.dim() == 4) c.img_size = pos->second.size(1) * c.patch_size;
  auto lin1 = tensors.find("image_encoder.blocks.0.mlp.lin1.weight");
  if (lin1 != tensors.end()) c.mlp_ratio = static_cast<double>(lin1->second.size(0)) / static_cast<double>(c.embed_dim);
  c.qkv_bias = tensors.count("image_encoder.blocks.0.attn.qkv.bias") > 0;
  c.use_rel_pos = tensors.count("image_encoder.blocks.0.attn.rel_pos_h") > 0;
  if (c.use_rel_pos) {
    // Global blocks hold (2 * grid - 1)-row tables, windowed ones (2 * window - 1); the width is head_dim.
    c.global_attn_indexes.clear();
    const int64_t grid = c.img_size / c.patch_size;
    for (int64_t i = 0; i < c.depth; ++i) {
      auto t = tensors.find("image_encoder.blocks." + std::to_string(i) + ".attn.rel_pos_h");
      if (t == tensors.end() || t->second.dim() != 2) continue;
      if (t->second.size(0) == 2 * grid - 1) c.global_attn_indexes.push_back(i);
      else c.window_size = (t->second.size(0) + 1) / 2;
      if (t->second.size(1) > 0) c.num_heads = c.embed_dim / t->second.size(1);
    }
  } else {
    c.num_heads = c.embed_dim == 768 ? 12 : 16;
  }
  if (auto neck = tensors.find("image_encoder.neck.0.weight"); neck != tensors.end()) c.out_chans = neck->second.size(0);
  if (auto t = tensors.find("prompt_encoder.no_mask_embed.weight"); t != tensors.end()) c.prompt_embed_dim = t->second.size(-1);
  if (auto t = tensors.find("prompt_encoder.mask_downscaling.3.weight"); t != tensors.end()) c.mask_in_chans = t->second.size(0);
  if (auto t = tensors.find("mask_decoder.iou_token.weight"); t != tensors.end()) c.transformer_dim = t->second.size(-1);
  c.decoder_depth = count_indexed(tensors, "mask_decoder.transformer.layers.");
  if (auto t = tensors.find("mask_decoder.transformer.layers.0.mlp.lin1.weight"); t != tensors.end())
    c.decoder_mlp_dim = t->second.size(0);
  if (auto t = tensors.find("mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight");
      t != tensors.end() && t->second.size(0) > 0)
    c.attention_downsample_rate = c.transformer_dim / t->second.size(0);
  if (auto t = tensors.find("mask_decoder.mask_tokens.weight"); t != tensors.end()) c.num_multimask_outputs = t->second.size(0) - 1;
  c.iou_head_depth = count_indexed(tensors, "mask_decoder.iou_prediction_head.layers.");
  if (auto t = tensors.find("mask_decoder.iou_prediction_head.layers.0.weight"); t != tensors.end())
    c.iou_head_hidden_dim = t->second.size(0);

  if (config_json) {
    const JsonNode j = JsonNode::parse_file(*config_json);
    if (j.has("vision_config") || j.has("mask_decoder_config")) apply_hf(c, j);
    else apply_golden(c, j);
  }
  if (c.embed_dim <= 0 || c.num_heads <= 0 || c.embed_dim % c.num_heads != 0 || c.depth <= 0 || c.patch_size <= 0 ||
      c.img_size % c.patch_size != 0 || c.transformer_dim % c.decoder_heads != 0 || c.transformer_dim % 8 != 0 ||
      c.attention_downsample_rate <= 0 || c.iou_head_depth < 1 || c.window_size < 0)
    fail_input(config_json ? *config_json : origin, "", "inconsistent SAM configuration: {}", c.describe());
  return c;
}

}  // namespace semfield::foundation
