// IbrConfig <-> JSON.
#include "semfield/models/ibr/ibr_config.h"

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/encoders/encoder_input.h"

namespace semfield {

void IbrConfig::validate() const {
  auto check = [](bool ok, const char* key, int64_t value) {
    if (!ok) fail_usage("ibr config: {} = {} is out of range", key, value);
  };
  check(encoder.base_channels >= 4 && encoder.base_channels <= 256, "encoder.base_channels", encoder.base_channels);
  check(encoder.out_channels >= 1 && encoder.out_channels <= 256, "encoder.out_channels", encoder.out_channels);
  check(encoder.in_channels == 3, "encoder.in_channels", encoder.in_channels);
  check(view_hidden >= 4 && view_hidden <= 512, "view_hidden", view_hidden);
  check(view_features >= 2 && view_features <= 512, "view_features", view_features);
  check(point_features >= 2 && point_features <= 512, "point_features", point_features);
  check(n_coarse >= 2 && n_coarse <= 1024, "n_coarse", n_coarse);
  check(n_fine >= 0 && n_fine <= 1024, "n_fine", n_fine);
  check(n_coarse_render == 0 || (n_coarse_render >= 2 && n_coarse_render <= 1024), "n_coarse_render",
        n_coarse_render);
  check(n_fine_render >= 0 && n_fine_render <= 1024, "n_fine_render", n_fine_render);
  check(source_views >= 1 && source_views <= 64, "source_views", source_views);
  check(valid_encode_size(encode_size), "encode_size", encode_size);
  if (!(unbounded_extent >= 1.0 && unbounded_extent <= 1000.0))
    fail_usage("ibr config: unbounded_extent = {} is out of range [1, 1000]", unbounded_extent);
  if (!(fine_min_opacity >= 0.0 && fine_min_opacity < 1.0))
    fail_usage("ibr config: fine_min_opacity = {} is out of range [0, 1)", fine_min_opacity);
}

IbrConfig with_inference_settings_of(IbrConfig theirs, const IbrConfig& ours) {
  theirs.encode_size = ours.encode_size;
  theirs.n_coarse_render = ours.n_coarse_render;
  theirs.n_fine_render = ours.n_fine_render;
  theirs.fine_min_opacity = ours.fine_min_opacity;
  return theirs;
}

nlohmann::json to_json(const IbrConfig& c) {
  return {{"encoder", {{"base_channels", c.encoder.base_channels}, {"out_channels", c.encoder.out_channels}}},
          {"view_hidden", c.view_hidden},
          {"view_features", c.view_features},
          {"point_features", c.point_features},
          {"n_coarse", c.n_coarse},
          {"n_fine", c.n_fine},
          {"n_coarse_render", c.n_coarse_render},
          {"n_fine_render", c.n_fine_render},
          {"source_views", c.source_views},
          {"encode_size", c.encode_size},
          {"unbounded_extent", c.unbounded_extent},
          {"fine_min_opacity", c.fine_min_opacity},
          {"seed", c.seed}};
}

IbrConfig ibr_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  root.reject_unknown_keys({"encoder", "view_hidden", "view_features", "point_features", "n_coarse", "n_fine",
                            "n_coarse_render", "n_fine_render", "source_views", "encode_size", "unbounded_extent",
                            "fine_min_opacity", "seed"});
  IbrConfig c;
  if (auto enc = root.find("encoder")) {
    enc->reject_unknown_keys({"base_channels", "out_channels"});
    c.encoder.base_channels = static_cast<int>(enc->int_or("base_channels", c.encoder.base_channels));
    c.encoder.out_channels = static_cast<int>(enc->int_or("out_channels", c.encoder.out_channels));
  }
  c.view_hidden = static_cast<int>(root.int_or("view_hidden", c.view_hidden));
  c.view_features = static_cast<int>(root.int_or("view_features", c.view_features));
  c.point_features = static_cast<int>(root.int_or("point_features", c.point_features));
  c.n_coarse = static_cast<int>(root.int_or("n_coarse", c.n_coarse));
  c.n_fine = static_cast<int>(root.int_or("n_fine", c.n_fine));
  c.n_coarse_render = static_cast<int>(root.int_or("n_coarse_render", c.n_coarse_render));
  c.n_fine_render = static_cast<int>(root.int_or("n_fine_render", c.n_fine_render));
  c.source_views = static_cast<int>(root.int_or("source_views", c.source_views));
  c.encode_size = static_cast<int>(root.int_or("encode_size", c.encode_size));
  c.unbounded_extent = root.double_or("unbounded_extent", c.unbounded_extent);
  c.fine_min_opacity = root.double_or("fine_min_opacity", c.fine_min_opacity);
  c.seed = static_cast<uint64_t>(root.int_or("seed", static_cast<int64_t>(c.seed)));
  validate_config(origin, "", [&] { c.validate(); });
  return c;
}

}  // namespace semfield
