// GnesfConfig <-> JSON.
#include "semfield/models/gnesf/gnesf_config.h"

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"

namespace semfield {

const char* gnesf_vote_name(GnesfVote vote) {
  switch (vote) {
    case GnesfVote::Probability: return "prob";
    case GnesfVote::Logit: return "logit";
    case GnesfVote::Direct: return "direct";
  }
  return "?";
}

void GnesfConfig::validate() const {
  radiance.validate();
  if (vote_hidden < 4 || vote_hidden > 512) fail_usage("gnesf config: vote_hidden = {} is out of range", vote_hidden);
  if (direct_classes < 2 || direct_classes > 4096)
    fail_usage("gnesf config: direct_classes = {} is out of range [2, 4096]", direct_classes);
  if (!(label_severity_min >= 0 && label_severity_max >= label_severity_min && label_severity_max <= 10))
    fail_usage("gnesf config: label_severity [{}, {}] must satisfy 0 <= min <= max <= 10", label_severity_min,
               label_severity_max);
  if (label_gt != "semantic" && label_gt != "instance")
    fail_usage("gnesf config: label_gt = '{}' (expected semantic or instance)", label_gt);
  if (geometry.enabled) geometry.validate();
  if (semantic_weights != "density" && semantic_weights != "sdf")
    fail_usage("gnesf config: semantic_weights = '{}' (expected density or sdf)", semantic_weights);
  if (semantic_weights == "sdf" && !geometry.enabled)
    fail_usage("gnesf config: semantic_weights = 'sdf' needs a geometry volume (\"geometry\": {{...}})");
  if (radiance_density != "ibr" && radiance_density != "sdf")
    fail_usage("gnesf config: radiance_density = '{}' (expected ibr or sdf)", radiance_density);
  if (radiance_density == "sdf" && !geometry.enabled)
    fail_usage("gnesf config: radiance_density = 'sdf' needs a geometry volume (\"geometry\": {{...}})");
  if (sdf_mask_sources && !geometry.enabled)
    fail_usage("gnesf config: sdf_mask_sources needs a geometry volume (\"geometry\": {{...}})");
  if (train_geometry_only && !geometry.enabled)
    fail_usage("gnesf config: train_geometry_only needs a geometry volume (\"geometry\": {{...}})");
}

nlohmann::json to_json(const GnesfConfig& c) {
  return {{"radiance", to_json(c.radiance)},
          {"vote", gnesf_vote_name(c.vote)},
          {"visibility", c.visibility},
          {"vote_hidden", c.vote_hidden},
          {"direct_classes", c.direct_classes},
          {"train_radiance", c.train_radiance},
          {"label_severity", {c.label_severity_min, c.label_severity_max}},
          {"label_gt", c.label_gt},
          {"geometry", to_json(c.geometry)},
          {"semantic_weights", c.semantic_weights},
          {"radiance_density", c.radiance_density},
          {"sdf_mask_sources", c.sdf_mask_sources},
          {"train_geometry_only", c.train_geometry_only},
          {"seed", c.seed}};
}

GnesfConfig gnesf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  root.reject_unknown_keys({"radiance", "vote", "visibility", "vote_hidden", "direct_classes", "train_radiance",
                            "label_severity", "label_gt", "geometry", "semantic_weights", "radiance_density", "sdf_mask_sources",
                            "train_geometry_only", "seed"});
  GnesfConfig c;
  if (root.has("radiance")) c.radiance = ibr_config_from_json(root.at("radiance").raw(), origin);
  const std::string vote = root.string_or("vote", gnesf_vote_name(c.vote));
  if (vote == "prob") c.vote = GnesfVote::Probability;
  else if (vote == "logit") c.vote = GnesfVote::Logit;
  else if (vote == "direct") c.vote = GnesfVote::Direct;
  else root.at("vote").fail("expected prob, logit or direct");
  c.visibility = root.bool_or("visibility", c.visibility);
  c.vote_hidden = static_cast<int>(root.int_or("vote_hidden", c.vote_hidden));
  c.direct_classes = static_cast<int>(root.int_or("direct_classes", c.direct_classes));
  c.train_radiance = root.bool_or("train_radiance", c.train_radiance);
  if (auto s = root.find("label_severity")) {
    const std::vector<double> v = s->as_doubles();
    if (v.size() != 2) s->fail("expected [min, max]");
    c.label_severity_min = v[0];
    c.label_severity_max = v[1];
  }
  c.label_gt = root.string_or("label_gt", c.label_gt);
  if (root.has("geometry")) c.geometry = geometry_volume_config_from_json(root.at("geometry").raw(), origin.string());
  c.semantic_weights = root.string_or("semantic_weights", c.semantic_weights);
  c.radiance_density = root.string_or("radiance_density", c.radiance_density);
  c.sdf_mask_sources = root.bool_or("sdf_mask_sources", c.sdf_mask_sources);
  c.train_geometry_only = root.bool_or("train_geometry_only", c.train_geometry_only);
  c.seed = static_cast<uint64_t>(root.int_or("seed", static_cast<int64_t>(c.seed)));
  validate_config(origin, "", [&] { c.validate(); });
  return c;
}

}  // namespace semfield
