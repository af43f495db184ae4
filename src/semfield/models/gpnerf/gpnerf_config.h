// Configuration of GP-NeRF (type "gp-nerf", ../shared/papers/gp-nerf-*.txt; gpnerf_network.h). Every key is
// documented here once with its default; unknown keys are an error naming the key. Sizes are the paper's scaled to a
// 2-core CPU (GNT's 8 layers of width 64 and 512-d semantics -> 4 layers of 32 and 64-d; 64 samples per ray -> 32
// proposal + 32 transformer samples); BENCHMARKS.md ("GP-NeRF") states the scaling of the training recipe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "semfield/encoders/resnet_fpn.h"

namespace semfield {

/// The losses of Eq. 8 (weights; 0 switches a loss off). The code's Replica config: rgb 0.25, semantic 0.75, distill
/// 0.5, depth-guided 0.5 (ScanNet: 0.25 / 0.25).
struct GpnerfLossWeights {
  double rgb = 0.25;           ///< "rgb": photometric loss of the transformer's colour (Eq. 9)
  double point = 0.25;         ///< "point": photometric loss of the proposal's per-point density and colour
  double semantic = 0.75;      ///< "semantic": cross-entropy of the perception head's classes (Eq. 10)
  double distill = 0.5;        ///< "distill": 2D semantic distillation, 1 - cos(S_sem, S_novel) (Eq. 11)
  double depth_guided = 0.5;   ///< "depth_guided": depth-guided semantic distillation of the field's points (Eq. 12-13)
  /// "instance": DM-NeRF's instance loss of the instance head (Hungarian matching of slots to the target view's
  /// instances, binary cross-entropy + soft IoU), with "instance_slots" > 0 and instance maps in the scene
  double instance = 1.0;
  /// Not in the paper; where the scene has depth maps (the generator writes them), else 0. "surface_rgb": the
  /// squared error of the view-blended colour of the fine sample nearest the depth map's surface (the colour a blend
  /// that knew which views see the surface would give); "surface_pool": -log of the colour pooling's mass within
  /// "depth_guided_np" samples of that sample. Both teach the colour where the surface is, which the photometric loss
  /// alone leaves to the pooling to find (BENCHMARKS.md, "GP-NeRF", 2026-11-27 fourth session). 0 = off (default).
  double surface_rgb = 0.0;
  double surface_pool = 0.0;
};

/// Learning-rate multipliers of the parts (of `train-corpus --lr` and `apply --finetune-lr`). The paper's are 5e-3 /
/// 1e-5 / 5e-5 for 200k steps; at this machine's few thousand steps transformers at 1/500 of the extractor's rate
/// barely move, so the default is one rate for all (BENCHMARKS.md, "GP-NeRF"). "instance_head" is the instance
/// head's own: a head usually fresh at fine-tuning, where the rest starts trained.
struct GpnerfLrScale {
  double extractor = 1.0, transformer = 1.0, head = 1.0, instance_head = 1.0;
  /// "colour": the "ibr" colour's head ("colour.*"), which no other part reads.
  double colour = 1.0;
  /// "backbone": the extractor's residual U-Net alone (what F_rgb and the pyramid's lower stages come from; the
  /// transformers' keys read F_rgb), -1 = as "extractor". 0 with "extractor" > 0 trains the pyramid (block4 + FPN:
  /// F_sem) without moving F_rgb.
  double backbone = -1.0;
};

/// The largest "proposal_stride" (GpnerfConfig).
constexpr int kMaxProposalStride = 16;

struct GpnerfConfig {
  /// "extractor": {"base_channels", "rgb_channels", "pyramid_channels", "semantic_channels"}: the ResNet + FPN
  /// extractor (encoders/resnet_fpn.h); rgb_channels = F_rgb's, semantic_channels = D (a multiple of 4 and of
  /// "width"/"heads"-compatible sizes: D % width == 0 and D % heads == 0).
  ResNetFpnConfig extractor;
  int width = 32;            ///< "width": the transformers' feature width W (GNT: 64)
  int layers = 4;            ///< "layers": view + ray transformer pairs (GNT: 8)
  int heads = 4;             ///< "heads": heads of the ray transformer (W % heads == 0)
  int ff_hidden = 64;        ///< "ff_hidden": hidden width of the transformers' feed-forward blocks (GNT: 4 W)
  int head_channels = 32;    ///< "head_channels": width of the perception head's convolutions (Semantic-FPN: 128)
  int n_coarse = 32;         ///< "n_coarse": stratified proposal samples per ray (first view transformer + point head)
  int n_fine = 32;           ///< "n_fine": importance samples per ray from the proposal, which the transformers render
  /// "n_coarse_render", "n_fine_render": the same at inference (apply, render, eval, segment, serve, validation
  /// renders, and the whole-view maps of the "rendered" head stage, which are rendered as at inference; not training or
  /// fine-tuning steps' rays); 0 = n_coarse / n_fine. Fewer samples trade a little quality for
  /// time: BENCHMARKS.md ("GP-NeRF") measures 24 / 24 for the shipped model (trained with 32 / 32).
  int n_coarse_render = 0;
  int n_fine_render = 0;
  /// "proposal_stride": when a whole view is rendered at inference (render, eval, segment and serve views; the
  /// "rendered" head stage's maps), the proposal runs on every proposal_stride-th row and column of pixels only (and
  /// the last row and column); a grid pixel keeps its own proposal, every other pixel takes the bilinear mix of its
  /// cell's four corner proposals as weights over its own bins (so a pixel at an edge samples every surface its
  /// neighbours see) and the largest of their opacities (spread_proposal). 1 = every pixel its own proposal; 0
  /// (default) = the view's longest side over the reference views' encoded side (encode_size, else their own),
  /// rounded down, at least 1: a 256² view from references encoded at 128 takes 2, a 128² view 1 — the proposal reads
  /// features no finer than the encoded references. Rays rendered on their own (clicks, depth queries) always take
  /// their own. BENCHMARKS.md ("GP-NeRF", nineteenth session): stride 2 on four 256² scenes from 128 changes PSNR by
  /// +0.00 to +0.06 dB and mIoU by +0.0001 to +0.0007 and saves ~26 % of the view's time; forced at 128² it costs
  /// 0.04–0.05 dB.
  int proposal_stride = 0;
  int source_views = 8;      ///< "source_views": reference views per target
  /// "encode_size": the longest side reference images are resampled to before the extractor
  /// (encoders/encoder_input.h); 0: as they are. Training records its images' side.
  int encode_size = 0;
  double unbounded_extent = 4.0;  ///< "unbounded_extent": as the ibr model's (models/ibr/ibr_config.h)
  /// "fine_min_opacity": at inference (not in training), rays whose proposal reaches at most this opacity skip the
  /// transformers and show what a ray missing the box shows: the proposal's colour (the background, nearly) and the
  /// semantics of nothing. 0 = every ray through the transformers. BENCHMARKS.md ("GP-NeRF") measures the effect.
  double fine_min_opacity = 1e-3;
  /// "classes": the class set by id (id 0 first), the training corpus's names (labels.json); the head predicts these.
  /// Default: the generator's (`semfield synth`).
  std::vector<std::string> classes;
  /// "joint_attention": the semantic field reuses the transformers' attention maps with gradients (jointly optimised,
  /// the paper's choice); false detaches them on the semantic path (Table 4, ID 1).
  bool joint_attention = true;
  /// "gradient_block": detach the reference views' semantic features (after the extractor + FPN) on the rendering
  /// path, so the distillation losses train the transformers, not the extractor (Table 4, ID 3 vs 4).
  bool gradient_block = true;
  /// "head_input": what the head decodes in training: "fused" (the paper's Fig. 3a: the rendered pixels of the semantic
  /// map, the others filled from S_novel) or "novel" (the release's variant: S_novel alone), or "rendered": the whole
  /// target view rendered as at inference (no gradient, deterministic samples, the fused kernels) — what the head reads
  /// on a novel view. "rendered" trains the perception heads alone (nothing else gets a gradient; the rgb, point and
  /// distillation losses are not computed): a stage after the joint training that fits the head to the rendered maps
  /// instead of S_novel's. Measured on the shipped model: its validation loss falls but unseen scenes' mIoU falls too
  /// (BENCHMARKS.md, "GP-NeRF", 2026-11-27 second session); per scene after fine-tuning it is apply's head stage
  /// (`--finetune-head-steps`), where it raises mIoU and instance AP. "segmenter": S_novel alone and nothing rendered —
  /// the extractor and the heads trained as a 2D segmenter of the target image (the rgb, point and distillation losses
  /// are 0 and not computed; a step costs the extractor and the head on one image): a stage that trains the segmenter
  /// inside the model on many more images than the joint steps can afford. With "segmenter" the target image and its
  /// maps are also mirrored left to right on every other example (by the example's seed). A model file written by a
  /// "rendered" or "segmenter" stage carries the value, and `apply --finetune-steps` trains with the file's config: set
  /// it back first (bench/model_variant.py, as models/gp-nerf-synth.md does) or give `--finetune-config '{"head_input":
  /// "fused"}'`.
  std::string head_input = "fused";
  /// "head_flip": at inference (not in training) the perception heads also decode the view's map mirrored left to
  /// right, and the two class probabilities are averaged (flip test-time augmentation, as mmsegmentation's
  /// Semantic-FPN configs offer). Costs one more head pass per view; measured on the shipped model: 0.715 -> 0.703
  /// mIoU on 12 unseen scenes (BENCHMARKS.md, "GP-NeRF", 2026-11-27 second session), hence off.
  bool head_flip = false;
  /// "colour": how the ray's colour is formed: "blend" (default: the source colours pooled by the last view
  /// transformer's attention, then over the samples by an attention score on the ray transformer's output; IBRNet's
  /// blend with GNT's attention), "alpha" (the same per-sample colours composited front to back over the background
  /// with an opacity sigmoid(score) per sample: the ray stops at the first opaque sample instead of averaging the
  /// colours of every sample near it, which ghosts textures seen at different depths), "density" (the same per-sample
  /// colours composited with the point head's density at the fine samples, IBRNet's volume rendering: the proposal's
  /// density, sharpened by the colour loss, says where the surface is instead of a score on the ray transformer) or
  /// "mlp" (GNT / the paper's Eq. 6: an MLP on the mean of the samples' features; slower to train). BENCHMARKS.md
  /// ("GP-NeRF", 2026-11-27): alpha fine-tuned 1,200 steps from the shipped blend model scores no better (PSNR 25.84
  /// vs 26.02 dB); 2026-11-30: density 300 steps from it, 21.3 dB on validation against the blend's 26.3.
  /// "ibr": the colour of a head of its own, the engine's image-conditioned network (models/ibr: per-view MLPs on
  /// F_rgb and the source colours with the views' mean and variance, visibility-aware pooling, a density by attention
  /// over the ray's samples, the source colours blended with learnt weights) run at the fine samples and volume
  /// rendered; its weights are "colour.*" (lr_scale "colour"). The transformers still aggregate the radiance features
  /// whose attention pools and renders the semantic field (Eq. 4-7); only the colour no longer reads that attention, so
  /// a colour loss no longer moves what pools F_sem (BENCHMARKS.md, "GP-NeRF", twenty-eighth session: the colour
  /// trained through the shared attention lowers mIoU). bench/graft_weights.py starts the head from an ibr model file.
  std::string colour = "blend";
  /// "colour_encoder": the features the "ibr" colour's head reads with the source colours: "shared" (default: F_rgb,
  /// the extractor's radiance features that the transformers aggregate) or "own" (the head's own encoder, the engine's
  /// ResUNet at the extractor backbone's widths on the images resampled to encode_size: "colour.encoder.*", trained
  /// with the head under lr_scale "colour"). The extractor is trained for the semantics (the segmenter stage, the
  /// gradient block), which pulls F_rgb away from what a colour needs; an encoder of its own lets the colour keep the
  /// engine's (BENCHMARKS.md, "GP-NeRF", thirtieth session). Costs one small encoder pass per reference view (once per
  /// scene at inference).
  std::string colour_encoder = "shared";
  /// "colour_samples": where the "ibr" colour's head runs along a ray: "fine" (default: the transformers' importance
  /// samples alone) or "all" (those and the proposal's bin centres, sorted: IBRNet's fine pass over the union of its
  /// coarse and fine samples, the sample set the engine's ray density is trained on; n_coarse(_render) more head
  /// evaluations per ray). BENCHMARKS.md, "GP-NeRF", thirtieth session.
  std::string colour_samples = "fine";
  /// "blend_weights": the views' weights of a sample's colour with the "blend", "alpha" and "density" colours:
  /// "attention" (default: the last view transformer's attention, its mean over channels) or "learned": that mean
  /// reweighted by exp(m_v) and renormalised over the views, m_v = MLP([the last view layer's attention logits of view
  /// v, its direction difference and cosine]) (W + 4 -> 16 -> 1, the last layer zero at initialisation, so a model
  /// initialised from an "attention" one starts with its colours). The attention is trained for the features it
  /// pools; the learnt factor lets the colour weigh the views it can see from (IBRNet's blend weights) without
  /// moving it. BENCHMARKS.md ("GP-NeRF", 2026-11-27 fourth session) measures it.
  std::string blend_weights = "attention";
  /// "instance_slots": slots of the instance head (a second perception head on the same map; the paper defines no
  /// instance loss: DM-NeRF's), 0 = none. Instances are per scene: the head is trained by fine-tuning on a scene.
  int instance_slots = 0;
  int depth_guided_np = 2;   ///< "depth_guided_np": N_p of Eq. 13, in samples either side of the surface sample
  GpnerfLossWeights loss;    ///< "loss": {"rgb", "point", "semantic", "distill", "depth_guided", "instance"}
  GpnerfLrScale lr_scale;    ///< "lr_scale": {"extractor", "transformer", "head", "instance_head", "colour", "backbone"}
  uint64_t seed = 0;         ///< "seed": weight initialisation

  /// UsageError naming the first key out of range.
  void validate() const;
};

nlohmann::json to_json(const GpnerfConfig& config);
/// Throws InputError(origin, key) for unknown keys or malformed values.
GpnerfConfig gpnerf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);

}  // namespace semfield
