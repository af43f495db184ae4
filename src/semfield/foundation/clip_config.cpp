// CLIP hyper-parameters: presets, inference from tensor shapes, config.json.
#include "semfield/foundation/clip_config.h"

#include <cmath>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

std::string ClipConfig::describe() const {
  return fmt::format("clip ViT {}px patch {} width {} layers {} heads {} | text width {} layers {} heads {} context {} "
                     "vocab {} | embed_dim {}",
                     image_resolution, vision_patch_size, vision_width, vision_layers, vision_heads, transformer_width,
                     transformer_layers, transformer_heads, context_length, vocab_size, embed_dim);
}

ClipConfig ClipConfig::preset(const std::string& name) {
  ClipConfig c;
  if (name == "ViT-B/32") {
    c.vision_patch_size = 32;
  } else if (name == "ViT-B/16") {
  } else if (name == "ViT-L/14" || name == "ViT-L/14@336px") {
    c.embed_dim = 768, c.vision_layers = 24, c.vision_width = 1024, c.vision_heads = 16, c.vision_patch_size = 14;
    c.transformer_width = 768, c.transformer_heads = 12;
    if (name == "ViT-L/14@336px") c.image_resolution = 336;
  } else {
    fail_usage("unknown CLIP preset '{}'; valid: ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px", name);
  }
  return c;
}

ClipConfig clip_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                           const std::filesystem::path& origin) {
  ClipConfig c;
  const at::Tensor conv = require_tensor(tensors, "visual.conv1.weight", origin, "the image tower width and patch");
  if (conv.dim() != 4) fail_input(origin, "visual.conv1.weight", "expected a 4-d convolution weight, got {}", describe_tensor(conv));
  c.vision_width = conv.size(0);
  c.vision_patch_size = conv.size(3);
  c.vision_layers = count_indexed(tensors, "visual.transformer.resblocks.");
  const at::Tensor vpos = require_tensor(tensors, "visual.positional_embedding", origin, "the image resolution");
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(vpos.size(0) - 1))));
  c.image_resolution = grid * c.vision_patch_size;
  c.embed_dim = require_tensor(tensors, "text_projection", origin, "the joint embedding width").size(-1);
  c.context_length = require_tensor(tensors, "positional_embedding", origin, "the context length").size(0);
  c.vocab_size = require_tensor(tensors, "token_embedding.weight", origin, "the vocabulary size").size(0);
  c.transformer_width = require_tensor(tensors, "ln_final.weight", origin, "the text width").size(0);
  c.transformer_layers = count_indexed(tensors, "transformer.resblocks.");
  c.vision_heads = std::max<int64_t>(1, c.vision_width / 64);
  c.transformer_heads = std::max<int64_t>(1, c.transformer_width / 64);

  if (config_json) {
    const JsonNode j = JsonNode::parse_file(*config_json);
    if (j.has("text_config") || j.has("vision_config")) {  // Hugging Face CLIPConfig
      c.embed_dim = j.int_or("projection_dim", c.embed_dim);
      if (auto t = j.find("text_config")) {
        c.transformer_width = t->int_or("hidden_size", c.transformer_width);
        c.transformer_heads = t->int_or("num_attention_heads", c.transformer_heads);
        c.transformer_layers = t->int_or("num_hidden_layers", c.transformer_layers);
        c.context_length = t->int_or("max_position_embeddings", c.context_length);
        c.vocab_size = t->int_or("vocab_size", c.vocab_size);
        c.layer_norm_eps = t->double_or("layer_norm_eps", c.layer_norm_eps);
        c.quick_gelu = t->string_or("hidden_act", "quick_gelu") == "quick_gelu";
      }
      if (auto v = j.find("vision_config")) {
        c.vision_width = v->int_or("hidden_size", c.vision_width);
        c.vision_heads = v->int_or("num_attention_heads", c.vision_heads);
        c.vision_layers = v->int_or("num_hidden_layers", c.vision_layers);
        c.image_resolution = v->int_or("image_size", c.image_resolution);
        c.vision_patch_size = v->int_or("patch_size", c.vision_patch_size);
      }
    } else {
      c.embed_dim = j.int_or("embed_dim", c.embed_dim);
      c.image_resolution = j.int_or("image_resolution", c.image_resolution);
      c.vision_layers = j.int_or("vision_layers", c.vision_layers);
      c.vision_width = j.int_or("vision_width", c.vision_width);
      c.vision_patch_size = j.int_or("vision_patch_size", c.vision_patch_size);
      c.vision_heads = j.int_or("vision_heads", c.vision_heads);
      c.context_length = j.int_or("context_length", c.context_length);
      c.vocab_size = j.int_or("vocab_size", c.vocab_size);
      c.transformer_width = j.int_or("transformer_width", c.transformer_width);
      c.transformer_heads = j.int_or("transformer_heads", c.transformer_heads);
      c.transformer_layers = j.int_or("transformer_layers", c.transformer_layers);
      c.layer_norm_eps = j.double_or("layernorm_eps", c.layer_norm_eps);
      for (const char* key : {"image_mean", "image_std"})
        if (auto v = j.find(key)) {
          const std::vector<double> values = v->as_doubles();
          if (values.size() != 3) v->fail("expected 3 values");
          auto& dst = std::string(key) == "image_mean" ? c.image_mean : c.image_std;
          for (int i = 0; i < 3; ++i) dst[i] = values[i];
        }
    }
  }
  if (c.vision_width % c.vision_heads != 0 || c.transformer_width % c.transformer_heads != 0 || c.vision_layers <= 0 ||
      c.transformer_layers <= 0 || c.vision_patch_size <= 0 || c.image_resolution < c.vision_patch_size)
    fail_input(config_json ? *config_json : origin, "", "inconsistent CLIP configuration: {}", c.describe());
  return c;
}

}  // namespace semfield::foundation
