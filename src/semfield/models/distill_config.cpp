// JSON (de)serialisation of DistillConfig.
#include "semfield/models/distill_config.h"

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/json_sections.h"

namespace semfield {

namespace {

template <typename Visitor>
void visit_field(FeatureFieldConfig& c, Visitor&& v) {
  v("n_levels", c.grid.n_levels);
  v("n_features_per_level", c.grid.n_features);
  v("log2_hashmap_size", c.grid.log2_table_size);
  v("base_resolution", c.grid.base_resolution);
  v("finest_resolution", c.finest_resolution);
  v("head_hidden", c.head_hidden);
  v("head_layers", c.head_layers);
}

template <typename Visitor>
void visit_laser(LaserConfig& c, Visitor&& v) {
  v("enabled", c.enabled);
  v("adapter", c.adapter);
  v("adapter_hidden", c.adapter_hidden);
  v("attention", c.attention);
  v("attention_rank", c.attention_rank);
  v("label_volume", c.label_volume);
  v("label_rank", c.label_rank);
  v("label_resolution", c.label_resolution);
  v("text_augmentation", c.text_augmentation);
  v("text_repeat", c.text_repeat);
  v("temperature", c.temperature);
  v("relevancy_weight", c.relevancy_weight);
  v("self_weight", c.self_weight);
  v("label_weight", c.label_weight);
  v("cross_weight", c.cross_weight);
  v("cross_start", c.cross_start);
  v("module_lr_scale", c.module_lr_scale);
  v("adapted_class_targets", c.adapted_class_targets);
}

template <typename Visitor>
void visit_distill(DistillConfig& c, Visitor&& v) {
  v("teacher", c.teacher);
  v("surface", c.surface);
  v("steps", c.steps);
  v("time_budget", c.time_budget);
  v("rays_per_step", c.rays_per_step);
  v("lr", c.lr);
  v("lr_final_fraction", c.lr_final_fraction);
  v("beta1", c.beta1);
  v("beta2", c.beta2);
  v("eps", c.eps);
  v("cross_scale_weight", c.cross_scale_weight);
  v("cross_scale_pixels", c.cross_scale_pixels);
  v("camera_augmentation", c.camera_augmentation);
  v("augment_probability", c.augment_probability);
  v("cache", c.cache);
  v("cache_capacity", c.cache_capacity);
  v("cache_reuse", c.cache_reuse);
  v("augment_max_side", c.augment_max_side);
  v("label_noise", c.label_noise);
  v("label_keep", c.label_keep);
  v("eval_interval", c.eval_interval);
  v("seed", c.seed);
}

void validate(const DistillConfig& c, const std::filesystem::path& origin) {
  auto check = [&](bool ok, const char* key, const char* expected) {
    if (!ok) throw InputError(origin, key, expected);
  };
  check(c.field.grid.n_levels >= 1 && c.field.grid.n_levels <= 32, "field.n_levels", "expected 1..32");
  check(c.field.grid.n_features == 1 || c.field.grid.n_features == 2 || c.field.grid.n_features == 4 ||
            c.field.grid.n_features == 8,
        "field.n_features_per_level", "expected 1, 2, 4 or 8");
  check(c.field.grid.log2_table_size >= 10 && c.field.grid.log2_table_size <= 24, "field.log2_hashmap_size",
        "expected 10..24");
  check(c.field.grid.base_resolution >= 2, "field.base_resolution", "expected >= 2");
  check(c.field.finest_resolution == 0 || c.field.finest_resolution >= c.field.grid.base_resolution,
        "field.finest_resolution", "expected 0 (automatic) or >= base_resolution");
  check(c.field.head_hidden >= 8, "field.head_hidden", "expected >= 8");
  check(c.field.head_layers >= 0 && c.field.head_layers <= 8, "field.head_layers", "expected 0..8");
  check(c.steps >= 0, "steps", "expected >= 0");
  check(c.time_budget >= 0, "time_budget", "expected >= 0");
  check(c.rays_per_step >= 16, "rays_per_step", "expected >= 16");
  check(c.lr > 0, "lr", "expected > 0");
  check(c.lr_final_fraction > 0 && c.lr_final_fraction <= 1, "lr_final_fraction", "expected in (0, 1]");
  check(c.cross_scale_weight >= 0, "cross_scale_weight", "expected >= 0");
  check(c.cross_scale_pixels >= 2, "cross_scale_pixels", "expected >= 2");
  check(c.augment_probability >= 0 && c.augment_probability <= 1, "augment_probability", "expected in [0, 1]");
  check(c.cache_capacity >= 1, "cache_capacity", "expected >= 1");
  check(c.cache_reuse >= 0 && c.cache_reuse < 1, "cache_reuse", "expected in [0, 1)");
  check(c.augment_max_side >= 8, "augment_max_side", "expected >= 8");
  check(c.label_noise >= 0 && c.label_noise <= 1, "label_noise", "expected in [0, 1]");
  check(c.label_keep > 0 && c.label_keep <= 1, "label_keep", "expected in (0, 1]");
  check(c.eval_interval >= 0, "eval_interval", "expected >= 0");
  const LaserConfig& l = c.laser;
  check(l.adapter_hidden >= 1, "laser.adapter_hidden", "expected >= 1");
  check(l.attention_rank >= 1 && l.attention_rank <= 1024, "laser.attention_rank", "expected 1..1024");
  check(l.label_rank >= 1 && l.label_rank <= 256, "laser.label_rank", "expected 1..256");
  check(l.label_resolution >= 2 && l.label_resolution <= 1024, "laser.label_resolution", "expected 2..1024");
  check(l.text_repeat >= 1 && l.text_repeat <= 8, "laser.text_repeat", "expected 1..8");
  check(l.temperature > 0, "laser.temperature", "expected > 0");
  check(l.relevancy_weight >= 0 && l.self_weight >= 0 && l.label_weight >= 0 && l.cross_weight >= 0, "laser",
        "expected non-negative loss weights");
  check(l.cross_start >= 0 && l.cross_start <= 1, "laser.cross_start", "expected in [0, 1]");
  check(l.module_lr_scale > 0, "laser.module_lr_scale", "expected > 0");
}

}  // namespace

nlohmann::json to_json(const DistillConfig& config) {
  DistillConfig c = config;
  nlohmann::json out = json_sections::to_json(c, [](auto& s, auto&& v) { visit_distill(s, v); });
  out["field"] = json_sections::to_json(c.field, [](auto& s, auto&& v) { visit_field(s, v); });
  out["laser"] = json_sections::to_json(c.laser, [](auto& s, auto&& v) { visit_laser(s, v); });
  return out;
}

DistillConfig distill_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  if (!root.is_object()) root.fail("expected a JSON object of distillation settings");
  DistillConfig c;
  std::vector<std::string> allowed{"field", "laser"};
  visit_distill(c, [&](const char* name, auto&) { allowed.emplace_back(name); });
  root.reject_unknown_keys(allowed);
  visit_distill(c, [&](const char* name, auto& value) {
    if (auto child = root.find(name)) json_sections::read_value(*child, value);
  });
  if (auto n = root.find("field")) json_sections::from_json(*n, c.field, [](auto& s, auto&& v) { visit_field(s, v); });
  if (auto n = root.find("laser")) json_sections::from_json(*n, c.laser, [](auto& s, auto&& v) { visit_laser(s, v); });
  validate(c, origin);
  return c;
}

DistillConfig load_distill_config(const std::filesystem::path& path) {
  const JsonNode node = JsonNode::parse_file(path);
  return distill_config_from_json(node.raw(), path);
}

}  // namespace semfield
