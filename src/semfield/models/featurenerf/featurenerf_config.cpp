// FeatureNerfConfig <-> JSON.
#include "semfield/models/featurenerf/featurenerf_config.h"

#include <cmath>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/encoders/encoder_input.h"

namespace semfield {

void FeatureNerfConfig::validate() const {
  encoder.validate();
  if (width < 8 || width > 2048) fail_usage("featurenerf config: width = {} is out of range [8, 2048]", width);
  if (feature_dim < 8 || feature_dim > 4096)
    fail_usage("featurenerf config: feature_dim = {} is out of range [8, 4096]", feature_dim);
  if (pe_frequencies < 0 || pe_frequencies > 16) fail_usage("featurenerf config: pe_frequencies must be in [0, 16]");
  if (!(pe_base > 0)) fail_usage("featurenerf config: pe_base must be positive");
  if (!(camera_distance >= 0 && camera_distance <= 1e3))
    fail_usage("featurenerf config: camera_distance = {} (expected 0 = the scene's own framing, or a distance in the "
               "model's world units, e.g. 2.6)", camera_distance);
  if (n_coarse < 2 || n_fine < 0) fail_usage("featurenerf config: n_coarse must be at least 2, n_fine at least 0");
  if (source_views < 1) fail_usage("featurenerf config: source_views must be at least 1");
  if (!valid_encode_size(encode_size))
    fail_usage("featurenerf config: encode_size = {} (expected 0 = as the images are, or 8..4096 pixels)", encode_size);
  if (rays < 1) fail_usage("featurenerf config: rays must be at least 1");
  if (!(background_rays >= 0 && background_rays <= 1)) fail_usage("featurenerf config: background_rays must be in [0, 1]");
  if (!(simulated.scale >= 0 && simulated.scale <= 1000))
    fail_usage("featurenerf config: simulated_dino.scale = {} is out of range [0 (automatic), 1000]", simulated.scale);
  if (teacher != "simulated-dino" && teacher != "none" && teacher.rfind("dino:", 0) != 0)
    fail_usage("featurenerf config: teacher = '{}' (expected simulated-dino, dino:PATH or none)", teacher);
  if (teacher == "none" && loss.distill > 0)
    fail_usage("featurenerf config: teacher 'none' distils nothing: set loss.distill to 0");
  if (dino_block < 0) fail_usage("featurenerf config: dino_block must be non-negative");
  if (teacher_dim < 1) fail_usage("featurenerf config: teacher_dim must be positive");
  if (teacher == "simulated-dino" && simulated.dim != teacher_dim)
    fail_usage("featurenerf config: teacher_dim ({}) must equal the simulated teacher's dim ({})", teacher_dim,
               simulated.dim);
  for (double w : {loss.rgb, loss.distill, loss.coord, loss.contrast})
    if (!(w >= 0)) fail_usage("featurenerf config: loss weights must be non-negative");
  if (coord_loss != "per_sample" && coord_loss != "mean_residual")
    fail_usage("featurenerf config: coord_loss = '{}' (expected per_sample or mean_residual)", coord_loss);
  if (descriptor != "internal" && descriptor != "output")
    fail_usage("featurenerf config: descriptor = '{}' (expected internal or output)", descriptor);
  if (!(contrast.sigma > 0 && std::isfinite(contrast.sigma)))
    fail_usage("featurenerf config: contrast.sigma = {} must be positive", contrast.sigma);
  if (!(contrast.temperature > 0 && std::isfinite(contrast.temperature)))
    fail_usage("featurenerf config: contrast.temperature = {} must be positive", contrast.temperature);
  if (!(colour_jitter >= 0 && colour_jitter <= 1))
    fail_usage("featurenerf config: colour_jitter = {} is out of range [0, 1]", colour_jitter);
}

nlohmann::json to_json(const FeatureNerfConfig& c) {
  nlohmann::json j = {{"category", c.category},
          {"encoder", {{"channels", c.encoder.channels}, {"blocks", c.encoder.blocks}}},
          {"width", c.width},
          {"feature_dim", c.feature_dim},
          {"pe_frequencies", c.pe_frequencies},
          {"pe_base", c.pe_base},
          {"camera_distance", c.camera_distance},
          {"n_coarse", c.n_coarse},
          {"n_fine", c.n_fine},
          {"source_views", c.source_views},
          {"encode_size", c.encode_size},
          {"rays", c.rays},
          {"background_rays", c.background_rays},
          {"teacher", c.teacher},
          {"teacher_dim", c.teacher_dim},
          {"dino_block", c.dino_block},
          {"simulated_dino",
           {{"part_weight", c.simulated.part_weight},
            {"appearance_weight", c.simulated.appearance_weight},
            {"symmetry", c.simulated.symmetry},
            {"instance_noise", c.simulated.instance_noise},
            {"pixel_noise", c.simulated.pixel_noise},
            {"position_weight", c.simulated.position_weight},
            {"scale", c.simulated.scale}}},
          {"loss", {{"rgb", c.loss.rgb}, {"distill", c.loss.distill}, {"coord", c.loss.coord}}},
          {"coord_loss", c.coord_loss},
          {"descriptor", c.descriptor},
          {"seed", c.seed}};
  // Written only when set: model files without it stay readable by binaries that predate the key.
  if (c.colour_jitter > 0) j["colour_jitter"] = c.colour_jitter;
  if (c.loss.contrast > 0) {
    j["loss"]["contrast"] = c.loss.contrast;
    j["contrast"] = {{"sigma", c.contrast.sigma}, {"temperature", c.contrast.temperature}};
  }
  return j;
}

FeatureNerfConfig featurenerf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  root.reject_unknown_keys({"category", "encoder", "width", "feature_dim", "pe_frequencies", "pe_base", "camera_distance", "n_coarse",
                            "n_fine", "source_views", "encode_size", "rays", "background_rays", "teacher", "teacher_dim",
                            "dino_block", "simulated_dino", "loss", "contrast", "coord_loss", "descriptor",
                            "colour_jitter", "seed"});
  FeatureNerfConfig c;
  c.category = root.string_or("category", c.category);
  if (auto e = root.find("encoder")) {
    e->reject_unknown_keys({"channels", "blocks"});
    const auto ints = [](const JsonNode& node) {
      if (!node.is_array()) node.fail("expected an array of integers");
      std::vector<int64_t> out;
      for (size_t i = 0; i < node.size(); ++i) out.push_back(node.at(i).as_int());
      return out;
    };
    if (auto ch = e->find("channels")) c.encoder.channels = ints(*ch);
    if (auto b = e->find("blocks")) c.encoder.blocks = ints(*b);
  }
  c.width = static_cast<int>(root.int_or("width", c.width));
  c.feature_dim = static_cast<int>(root.int_or("feature_dim", c.feature_dim));
  c.pe_frequencies = static_cast<int>(root.int_or("pe_frequencies", c.pe_frequencies));
  c.pe_base = root.double_or("pe_base", c.pe_base);
  c.camera_distance = root.double_or("camera_distance", c.camera_distance);
  c.n_coarse = static_cast<int>(root.int_or("n_coarse", c.n_coarse));
  c.n_fine = static_cast<int>(root.int_or("n_fine", c.n_fine));
  c.source_views = static_cast<int>(root.int_or("source_views", c.source_views));
  c.encode_size = static_cast<int>(root.int_or("encode_size", c.encode_size));
  c.rays = static_cast<int>(root.int_or("rays", c.rays));
  c.background_rays = root.double_or("background_rays", c.background_rays);
  c.teacher = root.string_or("teacher", c.teacher);
  c.teacher_dim = static_cast<int>(root.int_or("teacher_dim", c.teacher == "simulated-dino" ? c.teacher_dim
                                                              : c.teacher == "none"          ? 1
                                                                                             : 384));
  c.simulated.dim = c.teacher_dim;
  c.dino_block = static_cast<int>(root.int_or("dino_block", c.dino_block));
  if (auto s = root.find("simulated_dino")) {
    s->reject_unknown_keys({"part_weight", "appearance_weight", "symmetry", "instance_noise", "pixel_noise",
                            "position_weight", "scale"});
    c.simulated.part_weight = s->double_or("part_weight", c.simulated.part_weight);
    c.simulated.appearance_weight = s->double_or("appearance_weight", c.simulated.appearance_weight);
    c.simulated.symmetry = s->double_or("symmetry", c.simulated.symmetry);
    c.simulated.instance_noise = s->double_or("instance_noise", c.simulated.instance_noise);
    c.simulated.pixel_noise = s->double_or("pixel_noise", c.simulated.pixel_noise);
    c.simulated.position_weight = s->double_or("position_weight", c.simulated.position_weight);
    c.simulated.scale = s->double_or("scale", c.simulated.scale);
  }
  if (c.teacher == "none") c.loss.distill = 0;
  if (auto l = root.find("loss")) {
    l->reject_unknown_keys({"rgb", "distill", "coord", "contrast"});
    c.loss.rgb = l->double_or("rgb", c.loss.rgb);
    c.loss.distill = l->double_or("distill", c.loss.distill);
    c.loss.coord = l->double_or("coord", c.loss.coord);
    c.loss.contrast = l->double_or("contrast", c.loss.contrast);
  }
  if (auto k = root.find("contrast")) {
    k->reject_unknown_keys({"sigma", "temperature"});
    c.contrast.sigma = k->double_or("sigma", c.contrast.sigma);
    c.contrast.temperature = k->double_or("temperature", c.contrast.temperature);
  }
  c.coord_loss = root.string_or("coord_loss", c.coord_loss);
  c.descriptor = root.string_or("descriptor", c.descriptor);
  c.colour_jitter = root.double_or("colour_jitter", c.colour_jitter);
  c.seed = static_cast<uint64_t>(root.int_or("seed", static_cast<int64_t>(c.seed)));
  validate_config(origin, "", [&] { c.validate(); });
  return c;
}

}  // namespace semfield
