// JSON (de)serialisation of RadianceConfig: each section's fields are listed once, in visit_* below.
#include "semfield/models/radiance_config.h"

#include <cmath>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/json_sections.h"

namespace semfield {

namespace {

// A visitor sees (name, field) pairs; one list per section serves reading, writing and key validation.
template <typename Visitor>
void visit_field(FieldConfig& c, Visitor&& v) {
  v("n_levels", c.grid.n_levels);
  v("n_features_per_level", c.grid.n_features);
  v("log2_hashmap_size", c.grid.log2_table_size);
  v("base_resolution", c.grid.base_resolution);
  v("finest_resolution", c.finest_resolution);
  v("density_hidden", c.density_hidden);
  v("geo_features", c.geo_features);
  v("color_hidden", c.color_hidden);
  v("color_layers", c.color_layers);
  v("sh_degree", c.sh_degree);
}

template <typename Visitor>
void visit_render(RenderConfig& c, Visitor&& v) {
  v("grid_resolution", c.grid_resolution);
  v("max_samples_per_ray", c.max_samples_per_ray);
  v("cone_angle", c.cone_angle);
  v("steps_per_diagonal", c.steps_per_diagonal);
  v("occupancy_threshold", c.occupancy_threshold);
  v("background", c.background);
  v("chunk_rays", c.chunk_rays);
}

template <typename Visitor>
void visit_train(TrainConfig& c, Visitor&& v) {
  v("steps", c.steps);
  v("time_budget", c.time_budget);
  v("target_samples", c.target_samples);
  v("initial_rays", c.initial_rays);
  v("max_rays", c.max_rays);
  v("lr", c.lr);
  v("lr_final_fraction", c.lr_final_fraction);
  v("beta1", c.beta1);
  v("beta2", c.beta2);
  v("eps", c.eps);
  v("mlp_weight_decay", c.mlp_weight_decay);
  v("loss", c.loss);
  v("distortion_weight", c.distortion_weight);
  v("random_background", c.random_background);
  v("grid_update_interval", c.grid_update_interval);
  v("grid_warmup_steps", c.grid_warmup_steps);
  v("eval_interval", c.eval_interval);
  v("eval_views", c.eval_views);
  v("checkpoint_interval", c.checkpoint_interval);
  v("seed", c.seed);
}

void validate(const RadianceConfig& c, const std::filesystem::path& origin) {
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
  check(c.field.finest_resolution >= c.field.grid.base_resolution, "field.finest_resolution",
        "expected >= base_resolution");
  check(c.field.density_hidden >= 8 && c.field.color_hidden >= 8, "field.*_hidden", "expected >= 8");
  check(c.field.geo_features >= 1, "field.geo_features", "expected >= 1");
  check(c.field.color_layers >= 1 && c.field.color_layers <= 8, "field.color_layers", "expected 1..8");
  check(c.field.sh_degree >= 1 && c.field.sh_degree <= 4, "field.sh_degree", "expected 1..4");
  check(c.render.grid_resolution >= 8 && c.render.grid_resolution <= 512, "render.grid_resolution",
        "expected 8..512");
  check(c.render.max_samples_per_ray >= 1, "render.max_samples_per_ray", "expected >= 1");
  check(c.render.steps_per_diagonal >= 16, "render.steps_per_diagonal", "expected >= 16");
  check(c.render.chunk_rays >= 1, "render.chunk_rays", "expected >= 1");
  check(c.train.steps >= 0, "train.steps", "expected >= 0");
  check(c.train.time_budget >= 0, "train.time_budget", "expected >= 0");
  check(c.train.target_samples >= 1024, "train.target_samples", "expected >= 1024");
  check(c.train.initial_rays >= 1 && c.train.max_rays >= c.train.initial_rays, "train.max_rays",
        "expected >= initial_rays >= 1");
  check(c.train.lr > 0, "train.lr", "expected > 0");
  check(c.train.loss == "huber" || c.train.loss == "mse", "train.loss", "expected \"huber\" or \"mse\"");
  check(std::isfinite(c.train.distortion_weight) && c.train.distortion_weight >= 0, "train.distortion_weight",
        "expected a finite number >= 0");
  check(c.train.grid_update_interval >= 1, "train.grid_update_interval", "expected >= 1");
  check(c.train.checkpoint_interval >= 0, "train.checkpoint_interval", "expected >= 0");
}

}  // namespace

nlohmann::json to_json(const RadianceConfig& config) {
  RadianceConfig c = config;
  return {{"field", json_sections::to_json(c.field, [](auto& s, auto&& v) { visit_field(s, v); })},
          {"render", json_sections::to_json(c.render, [](auto& s, auto&& v) { visit_render(s, v); })},
          {"train", json_sections::to_json(c.train, [](auto& s, auto&& v) { visit_train(s, v); })}};
}

RadianceConfig radiance_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  if (!root.is_object()) root.fail("expected a JSON object with sections field, render, train");
  root.reject_unknown_keys({"field", "render", "train"});
  RadianceConfig c;
  if (auto n = root.find("field")) json_sections::from_json(*n, c.field, [](auto& s, auto&& v) { visit_field(s, v); });
  if (auto n = root.find("render")) json_sections::from_json(*n, c.render, [](auto& s, auto&& v) { visit_render(s, v); });
  if (auto n = root.find("train")) json_sections::from_json(*n, c.train, [](auto& s, auto&& v) { visit_train(s, v); });
  validate(c, origin);
  c.field.grid.per_level_scale = kernels::HashGridSpec::scale_for(c.field.grid.base_resolution,
                                                                  c.field.finest_resolution, c.field.grid.n_levels);
  return c;
}

RadianceConfig load_radiance_config(const std::filesystem::path& path) {
  const JsonNode node = JsonNode::parse_file(path);
  return radiance_config_from_json(node.raw(), path);
}

}  // namespace semfield
