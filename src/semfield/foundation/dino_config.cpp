// DINO hyper-parameters: presets, inference from tensor shapes, config.json.
#include "semfield/foundation/dino_config.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/foundation/state_dict_binding.h"

namespace semfield::foundation {

std::string DinoConfig::describe() const {
  return fmt::format("dino ViT patch {} embed_dim {} depth {} heads {} mlp {} grid {}x{}", patch_size, embed_dim, depth,
                     num_heads, mlp_hidden(), grid(), grid());
}

DinoConfig DinoConfig::preset(const std::string& name) {
  DinoConfig c;
  if (name == "vit_small8" || name == "vit_small16") {
    c.embed_dim = 384, c.depth = 12, c.num_heads = 6;
  } else if (name == "vit_base8" || name == "vit_base16") {
    c.embed_dim = 768, c.depth = 12, c.num_heads = 12;
  } else {
    fail_usage("unknown DINO preset '{}'; valid: vit_small8, vit_small16, vit_base8, vit_base16", name);
  }
  c.patch_size = name.back() == '8' ? 8 : 16;
  return c;
}

DinoConfig dino_config_for(const TensorMap& tensors, const std::optional<std::filesystem::path>& config_json,
                           const std::filesystem::path& origin) {
  DinoConfig c;
  const at::Tensor proj = require_tensor(tensors, "patch_embed.proj.weight", origin, "the patch size and width");
  if (proj.dim() != 4) fail_input(origin, "patch_embed.proj.weight", "expected a 4-d convolution weight, got {}", describe_tensor(proj));
  c.embed_dim = proj.size(0);
  c.patch_size = proj.size(2);
  c.depth = count_indexed(tensors, "blocks.");
  c.num_heads = std::max<int64_t>(1, c.embed_dim / 64);
  const at::Tensor pos = require_tensor(tensors, "pos_embed", origin, "the position grid");
  if (pos.dim() == 3) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.size(1) - 1))));
    c.img_size = side * c.patch_size;
  }
  // The hidden width most blocks agree on, so one mis-shaped tensor is reported rather than re-read as the config.
  std::map<int64_t, int64_t> votes;
  for (int64_t i = 0; i < c.depth; ++i) {
    auto fc1 = tensors.find("blocks." + std::to_string(i) + ".mlp.fc1.weight");
    if (fc1 != tensors.end() && fc1->second.dim() == 2) ++votes[fc1->second.size(0)];
  }
  if (!votes.empty() && c.embed_dim > 0) {
    const auto best = std::max_element(votes.begin(), votes.end(), [](auto a, auto b) { return a.second < b.second; });
    c.mlp_ratio = static_cast<double>(best->first) / static_cast<double>(c.embed_dim);
  }
  c.qkv_bias = c.depth == 0 || tensors.count("blocks.0.attn.qkv.bias") > 0;

  if (config_json) {
    const JsonNode j = JsonNode::parse_file(*config_json);
    if (j.has("hidden_size")) {  // Hugging Face ViTConfig
      c.embed_dim = j.at("hidden_size").as_int();
      c.depth = j.int_or("num_hidden_layers", c.depth);
      c.num_heads = j.int_or("num_attention_heads", c.num_heads);
      if (j.has("intermediate_size")) c.mlp_ratio = static_cast<double>(j.at("intermediate_size").as_int()) / c.embed_dim;
      c.patch_size = j.int_or("patch_size", c.patch_size);
      c.img_size = j.int_or("image_size", c.img_size);
      c.layer_norm_eps = j.double_or("layer_norm_eps", c.layer_norm_eps);
      c.qkv_bias = j.bool_or("qkv_bias", c.qkv_bias);
    } else {
      c.patch_size = j.int_or("patch_size", c.patch_size);
      c.embed_dim = j.int_or("embed_dim", c.embed_dim);
      c.depth = j.int_or("depth", c.depth);
      c.num_heads = j.int_or("num_heads", c.num_heads);
      c.mlp_ratio = j.double_or("mlp_ratio", c.mlp_ratio);
      c.qkv_bias = j.bool_or("qkv_bias", c.qkv_bias);
      if (auto img = j.find("img_size")) c.img_size = img->is_array() ? img->at(size_t{0}).as_int() : img->as_int();
      for (const char* key : {"image_mean", "image_std"})
        if (auto v = j.find(key)) {
          const std::vector<double> values = v->as_doubles();
          if (values.size() != 3) v->fail("expected 3 values");
          auto& dst = std::string(key) == "image_mean" ? c.image_mean : c.image_std;
          for (int i = 0; i < 3; ++i) dst[i] = values[i];
        }
    }
  }
  if (c.embed_dim <= 0 || c.num_heads <= 0 || c.embed_dim % c.num_heads != 0 || c.patch_size <= 0 || c.depth <= 0 ||
      c.img_size < c.patch_size)
    fail_input(config_json ? *config_json : origin, "", "inconsistent DINO configuration: {}", c.describe());
  return c;
}

}  // namespace semfield::foundation
