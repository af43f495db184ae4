// GpnerfConfig <-> JSON.
#include "semfield/models/gpnerf/gpnerf_config.h"

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/encoders/encoder_input.h"
#include "semfield/data/synth/synth_scene.h"

namespace semfield {

void GpnerfConfig::validate() const {
  const int d = extractor.semantic_channels;
  if (extractor.backbone.base_channels < 1 || extractor.backbone.out_channels < 1 || extractor.pyramid_channels < 1)
    fail_usage("gp-nerf config: extractor channel counts must be positive");
  if (width < 8 || width > 1024 || width % 8 != 0) fail_usage("gp-nerf config: width = {} (a multiple of 8 in 8..1024)", width);
  if (layers < 1 || layers > 16) fail_usage("gp-nerf config: layers = {} is out of range [1, 16]", layers);
  if (heads < 1 || width % heads != 0) fail_usage("gp-nerf config: heads = {} must divide width {}", heads, width);
  if (d < 4 || d % 4 != 0 || d % width != 0 || d % heads != 0)
    fail_usage("gp-nerf config: extractor.semantic_channels = {} must be a multiple of 4, of width ({}) and of heads "
               "({})", d, width, heads);
  if (ff_hidden < 1 || head_channels < 8 || head_channels % 8 != 0)
    fail_usage("gp-nerf config: ff_hidden must be positive and head_channels a multiple of 8");
  if (n_coarse < 2 || n_fine < 1) fail_usage("gp-nerf config: n_coarse must be at least 2 and n_fine at least 1");
  if ((n_coarse_render != 0 && n_coarse_render < 2) || n_fine_render < 0)
    fail_usage("gp-nerf config: n_coarse_render must be 0 (= n_coarse) or at least 2, n_fine_render 0 (= n_fine) or "
               "at least 1 (got {} and {})", n_coarse_render, n_fine_render);
  if (proposal_stride < 0 || proposal_stride > kMaxProposalStride)
    fail_usage("gp-nerf config: proposal_stride = {} is out of range [0 = auto, {}]", proposal_stride,
               kMaxProposalStride);
  if (source_views < 1) fail_usage("gp-nerf config: source_views must be at least 1");
  if (!valid_encode_size(encode_size))
    fail_usage("gp-nerf config: encode_size = {} (expected 0 = as the images are, or 8..4096 pixels)", encode_size);
  if (!(unbounded_extent >= 1)) fail_usage("gp-nerf config: unbounded_extent must be at least 1");
  if (!(fine_min_opacity >= 0.0 && fine_min_opacity < 1.0))
    fail_usage("gp-nerf config: fine_min_opacity = {} is out of range [0, 1)", fine_min_opacity);
  if (classes.size() < 2 || classes.size() > 255)
    fail_usage("gp-nerf config: classes must name 2..255 classes (8-bit class maps), got {}", classes.size());
  if (colour != "blend" && colour != "alpha" && colour != "density" && colour != "mlp" && colour != "ibr")
    fail_usage("gp-nerf config: colour = '{}' (expected blend, alpha, density, mlp or ibr)", colour);
  if (blend_weights != "attention" && blend_weights != "learned")
    fail_usage("gp-nerf config: blend_weights = '{}' (expected attention or learned)", blend_weights);
  if (colour_encoder != "shared" && colour_encoder != "own")
    fail_usage("gp-nerf config: colour_encoder = '{}' (expected shared or own)", colour_encoder);
  if (colour_encoder == "own" && colour != "ibr")
    fail_usage("gp-nerf config: colour_encoder 'own' is the \"ibr\" colour's encoder; colour is '{}'", colour);
  if (colour_samples != "fine" && colour_samples != "all")
    fail_usage("gp-nerf config: colour_samples = '{}' (expected fine or all)", colour_samples);
  if (colour_samples == "all" && colour != "ibr")
    fail_usage("gp-nerf config: colour_samples 'all' places the \"ibr\" colour's head; colour is '{}'", colour);
  if (blend_weights == "learned" && (colour == "mlp" || colour == "ibr"))
    fail_usage("gp-nerf config: blend_weights 'learned' weighs the views' colours of the blend, alpha or density "
               "colour, not mlp or ibr (whose head has its own)");
  if (head_input != "fused" && head_input != "novel" && head_input != "rendered" && head_input != "segmenter")
    fail_usage("gp-nerf config: head_input = '{}' (expected fused, novel, rendered or segmenter)", head_input);
  if (instance_slots < 0 || instance_slots > 255) fail_usage("gp-nerf config: instance_slots must be in [0, 255]");
  if (depth_guided_np < 0 || depth_guided_np > n_fine) fail_usage("gp-nerf config: depth_guided_np is out of range");
  for (double w : {loss.rgb, loss.point, loss.semantic, loss.distill, loss.depth_guided, loss.instance, loss.surface_rgb,
                   loss.surface_pool})
    if (!(w >= 0)) fail_usage("gp-nerf config: loss weights must be non-negative");
  for (double w : {lr_scale.extractor, lr_scale.transformer, lr_scale.head, lr_scale.instance_head, lr_scale.colour})
    if (!(w >= 0 && w <= 1000)) fail_usage("gp-nerf config: lr_scale entries must be in [0, 1000]");
  if (!(lr_scale.backbone == -1.0 || (lr_scale.backbone >= 0 && lr_scale.backbone <= 1000)))
    fail_usage("gp-nerf config: lr_scale.backbone must be in [0, 1000], or -1 (as extractor)");
}

nlohmann::json to_json(const GpnerfConfig& c) {
  return {{"extractor",
           {{"base_channels", c.extractor.backbone.base_channels},
            {"rgb_channels", c.extractor.backbone.out_channels},
            {"pyramid_channels", c.extractor.pyramid_channels},
            {"semantic_channels", c.extractor.semantic_channels}}},
          {"width", c.width},
          {"layers", c.layers},
          {"heads", c.heads},
          {"ff_hidden", c.ff_hidden},
          {"head_channels", c.head_channels},
          {"n_coarse", c.n_coarse},
          {"n_fine", c.n_fine},
          {"n_coarse_render", c.n_coarse_render},
          {"n_fine_render", c.n_fine_render},
          {"proposal_stride", c.proposal_stride},
          {"source_views", c.source_views},
          {"encode_size", c.encode_size},
          {"unbounded_extent", c.unbounded_extent},
          {"fine_min_opacity", c.fine_min_opacity},
          {"classes", c.classes},
          {"joint_attention", c.joint_attention},
          {"gradient_block", c.gradient_block},
          {"head_input", c.head_input},
          {"head_flip", c.head_flip},
          {"colour", c.colour},
          {"colour_encoder", c.colour_encoder},
          {"colour_samples", c.colour_samples},
          {"blend_weights", c.blend_weights},
          {"instance_slots", c.instance_slots},
          {"depth_guided_np", c.depth_guided_np},
          {"loss",
           {{"rgb", c.loss.rgb},
            {"point", c.loss.point},
            {"semantic", c.loss.semantic},
            {"distill", c.loss.distill},
            {"depth_guided", c.loss.depth_guided},
            {"surface_rgb", c.loss.surface_rgb},
            {"surface_pool", c.loss.surface_pool},
            {"instance", c.loss.instance}}},
          {"lr_scale",
           {{"extractor", c.lr_scale.extractor},
            {"transformer", c.lr_scale.transformer},
            {"head", c.lr_scale.head},
            {"instance_head", c.lr_scale.instance_head},
            {"colour", c.lr_scale.colour},
            {"backbone", c.lr_scale.backbone}}},
          {"seed", c.seed}};
}

GpnerfConfig gpnerf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin) {
  const JsonNode root = JsonNode::parse_text(json.dump(), origin);
  root.reject_unknown_keys({"extractor", "width", "layers", "heads", "ff_hidden", "head_channels", "n_coarse", "n_fine",
                            "n_coarse_render", "n_fine_render", "proposal_stride", "source_views", "encode_size",
                            "unbounded_extent",
                            "fine_min_opacity", "classes", "joint_attention", "gradient_block", "head_input",
                            "head_flip", "colour", "colour_encoder", "colour_samples", "blend_weights",
                            "instance_slots", "depth_guided_np", "loss", "lr_scale", "seed"});
  GpnerfConfig c;
  c.classes = synth_class_names();
  if (auto e = root.find("extractor")) {
    e->reject_unknown_keys({"base_channels", "rgb_channels", "pyramid_channels", "semantic_channels"});
    c.extractor.backbone.base_channels = static_cast<int>(e->int_or("base_channels", c.extractor.backbone.base_channels));
    c.extractor.backbone.out_channels = static_cast<int>(e->int_or("rgb_channels", c.extractor.backbone.out_channels));
    c.extractor.pyramid_channels = static_cast<int>(e->int_or("pyramid_channels", c.extractor.pyramid_channels));
    c.extractor.semantic_channels = static_cast<int>(e->int_or("semantic_channels", c.extractor.semantic_channels));
  }
  c.width = static_cast<int>(root.int_or("width", c.width));
  c.layers = static_cast<int>(root.int_or("layers", c.layers));
  c.heads = static_cast<int>(root.int_or("heads", c.heads));
  c.ff_hidden = static_cast<int>(root.int_or("ff_hidden", c.ff_hidden));
  c.head_channels = static_cast<int>(root.int_or("head_channels", c.head_channels));
  c.n_coarse = static_cast<int>(root.int_or("n_coarse", c.n_coarse));
  c.n_fine = static_cast<int>(root.int_or("n_fine", c.n_fine));
  c.n_coarse_render = static_cast<int>(root.int_or("n_coarse_render", c.n_coarse_render));
  c.n_fine_render = static_cast<int>(root.int_or("n_fine_render", c.n_fine_render));
  c.proposal_stride = static_cast<int>(root.int_or("proposal_stride", c.proposal_stride));
  c.source_views = static_cast<int>(root.int_or("source_views", c.source_views));
  c.encode_size = static_cast<int>(root.int_or("encode_size", c.encode_size));
  c.unbounded_extent = root.double_or("unbounded_extent", c.unbounded_extent);
  c.fine_min_opacity = root.double_or("fine_min_opacity", c.fine_min_opacity);
  if (auto k = root.find("classes")) {
    if (!k->is_array()) k->fail("expected an array of class names");
    c.classes.clear();
    for (size_t i = 0; i < k->size(); ++i) c.classes.push_back(k->at(i).as_string());
  }
  c.joint_attention = root.bool_or("joint_attention", c.joint_attention);
  c.gradient_block = root.bool_or("gradient_block", c.gradient_block);
  c.head_input = root.string_or("head_input", c.head_input);
  c.head_flip = root.bool_or("head_flip", c.head_flip);
  c.colour = root.string_or("colour", c.colour);
  c.colour_encoder = root.string_or("colour_encoder", c.colour_encoder);
  c.colour_samples = root.string_or("colour_samples", c.colour_samples);
  c.blend_weights = root.string_or("blend_weights", c.blend_weights);
  c.instance_slots = static_cast<int>(root.int_or("instance_slots", c.instance_slots));
  c.depth_guided_np = static_cast<int>(root.int_or("depth_guided_np", c.depth_guided_np));
  if (auto l = root.find("loss")) {
    l->reject_unknown_keys(
        {"rgb", "point", "semantic", "distill", "depth_guided", "instance", "surface_rgb", "surface_pool"});
    c.loss.rgb = l->double_or("rgb", c.loss.rgb);
    c.loss.point = l->double_or("point", c.loss.point);
    c.loss.semantic = l->double_or("semantic", c.loss.semantic);
    c.loss.distill = l->double_or("distill", c.loss.distill);
    c.loss.depth_guided = l->double_or("depth_guided", c.loss.depth_guided);
    c.loss.surface_rgb = l->double_or("surface_rgb", c.loss.surface_rgb);
    c.loss.surface_pool = l->double_or("surface_pool", c.loss.surface_pool);
    c.loss.instance = l->double_or("instance", c.loss.instance);
  }
  if (auto l = root.find("lr_scale")) {
    l->reject_unknown_keys({"extractor", "transformer", "head", "instance_head", "colour", "backbone"});
    c.lr_scale.extractor = l->double_or("extractor", c.lr_scale.extractor);
    c.lr_scale.transformer = l->double_or("transformer", c.lr_scale.transformer);
    c.lr_scale.head = l->double_or("head", c.lr_scale.head);
    c.lr_scale.instance_head = l->double_or("instance_head", c.lr_scale.instance_head);
    c.lr_scale.colour = l->double_or("colour", c.lr_scale.colour);
    c.lr_scale.backbone = l->double_or("backbone", c.lr_scale.backbone);
  }
  c.seed = static_cast<uint64_t>(root.int_or("seed", static_cast<int64_t>(c.seed)));
  validate_config(origin, "", [&] { c.validate(); });
  return c;
}

}  // namespace semfield
