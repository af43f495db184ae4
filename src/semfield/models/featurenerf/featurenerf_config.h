// Configuration of FeatureNeRF (type "featurenerf", ../shared/papers/featurenerf-*.txt; featurenerf_network.h). Every
// key is documented here once with its default; unknown keys are an error naming the key. Sizes are the paper's
// scaled to a 2-core CPU (ResNet-34 -> a 4-stage ResNet of 32/32/64/128; the MLP's hidden width 512 -> 256 with the
// 512-d internal feature kept; 64 + 32 samples per ray -> 32 + 16); BENCHMARKS.md ("FeatureNeRF") states the recipe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/encoders/pixel_encoder.h"
#include "semfield/teachers/simulated_dino.h"

namespace semfield {

/// Loss weights (0 switches a loss off): L = rgb L_rec + distill L_distill + coord L_coord (paper §3.3; §4.1:
/// lambda_distill = lambda_coord = 0.25), each on the coarse and the fine pass.
struct FeatureNerfLossWeights {
  double rgb = 1.0;
  double distill = 0.25;  ///< 0: the "NeRF feature" baseline (internal features and coordinate loss, no teacher)
  double coord = 0.25;    ///< 0: "w/o L_coord"
  /// "contrast": not in the paper (0 = off, the default; written to model files only when set). A metric signal on
  /// the descriptor from the coordinate loss's own supervision: over an example's foreground rays, the cosine
  /// neighbours of composited v_NeRF are pulled towards the rays' neighbours in canonical position
  /// (featurenerf_contrast_loss, FeatureNerfConfig::contrast). The distilled teacher confuses the left and right of
  /// symmetric objects; L_coord teaches x^ the difference but leaves how much of it v_NeRF's cosine sees to chance.
  /// Measured on chairs: same-camera transfer up, different-camera and 3D part transfer down — the rays compared share
  /// one source camera (BENCHMARKS.md "A contrast loss on v_NeRF"); the shipped models leave it off.
  double contrast = 0.0;
};

/// "contrast": {"sigma", "temperature"} of the contrast loss (used when loss.contrast > 0).
struct FeatureNerfContrastOptions {
  double sigma = 0.05;        ///< width of the canonical-position neighbourhood, object units (longest edge 1)
  double temperature = 0.1;   ///< of the softmax over cosine similarities
};

struct FeatureNerfConfig {
  std::string category;                 ///< "category": the object category it was trained on ("chair", ...); "" = any
  PixelEncoderConfig encoder;           ///< "encoder": {"channels": [c0,c1,c2,c3], "blocks": [b1,b2,b3]}
  int width = 256;                      ///< "width": hidden width of g_NeRF's first three layers
  int feature_dim = 512;                ///< "feature_dim": the internal feature v_NeRF (g_NeRF's 4th layer's output)
  int pe_frequencies = 6;               ///< "pe_frequencies": positional encoding of the point in the source camera frame
  double pe_base = 1.5;                 ///< "pe_base": its lowest frequency (x 2^k), per world unit (pixelNeRF: 1.5)
  /// "camera_distance": how `apply` frames the scene of an unseen object (the network reads points in world units:
  /// pe_base, the source camera frame). The scene's units are scaled so that its cameras sit this far, on average,
  /// from the point they look at (cameras_look_at over all of its cameras' poses; no image but the source view is
  /// read), which becomes the origin: the training corpora's 2.6 (`synth --category`), so that a scene in other units
  /// (centimetres), scaled or moved renders as the corpora did (SceneFrame::model_unit_scale). 0: the scene's own
  /// framing and units (docs/formats.md), as before 2026-11-29; also the fallback, with a warning, where the cameras'
  /// axes fix no point.
  double camera_distance = 2.6;
  int n_coarse = 32;                    ///< "n_coarse": stratified samples per ray
  int n_fine = 16;                      ///< "n_fine": importance samples per ray (the fine pass composites both)
  int source_views = 1;                 ///< "source_views": views a scene is rendered from (averaged after layer 3)
  /// "encode_size": the longest side source images are resampled to (antialiased bilinear) before the encoder; 0:
  /// encoded as they are. The encoder's receptive fields are in pixels, so an image at another resolution than the
  /// training images' gives features the heads never saw (an unseen chair at 256^2 through a 128^2 model: same-camera
  /// part mIoU 0.62 -> 0.45); training records its images' longest side here (FeatureNerfCorpusModel::config_json).
  int encode_size = 0;
  /// "rays": rays per training example kept from those the trainer draws, at most "background_rays" of them (a
  /// fraction) on the background: the authors' code draws them inside the object's box for the same reason. 256 since
  /// 2026-11-30 (was 128): a step ~1.6x longer; on chairs, lamps, tables and airplanes better same-camera part
  /// transfer and novel-view PSNR, and on chairs distillation's PSNR cost against the "NeRF feature" model 1.4 -> 0.4
  /// dB (BENCHMARKS.md, "Colour jitter in training: not a lever; twice the rays per example"). Model files record
  /// theirs.
  int rays = 256;
  double background_rays = 0.25;
  /// "teacher": what L_distill distils: "simulated-dino" (simulated_dino.h: a measuring instrument built from the
  /// scenes' part maps and depth), "dino:PATH" (DINO ViT-S/8 keys of block "dino_block" on the image upsampled x2,
  /// zero on the background: the authors' features, teachers/dino_keys.h; computed on first use per training view
  /// and kept in memory as float16 up to 4 GB), or "none" (no distillation: the NeRF-feature baseline).
  std::string teacher = "simulated-dino";
  int teacher_dim = 64;                 ///< "teacher_dim": the teacher's channels (dino: 384; simulated: its dim)
  int dino_block = 9;                   ///< "dino_block": the block whose keys a dino:PATH teacher gives (0-based)
  /// "simulated_dino": {"part_weight", "position_weight", "appearance_weight", "instance_noise", "pixel_noise",
  /// "symmetry", "scale"} of the simulated teacher (teachers/simulated_dino.h; the defaults are set in its options).
  SimulatedDinoOptions simulated;
  FeatureNerfLossWeights loss;          ///< "loss": {"rgb", "distill", "coord", "contrast"}
  FeatureNerfContrastOptions contrast;  ///< "contrast": the contrast loss's neighbourhood and temperature
  /// "coord_loss": "per_sample" (Eq. 8: every sample's regressed coordinate against its own) or "mean_residual" (the
  /// authors' code: the squared mean over a ray's samples of the residual).
  std::string coord_loss = "per_sample";
  /// "descriptor": which feature the tasks (transfer, SemanticSource) read: "internal" (v_NeRF, the paper's choice) or
  /// "output" (the distilled feature v: Table 3's "w/o internal features").
  std::string descriptor = "internal";
  /// "colour_jitter": in training (train-corpus, and `apply --finetune-steps` of a model file that carries it), each
  /// example's images (sources, target, its background and the image the teacher reads) go through one random colour
  /// map that keeps white white: the "ink" 1 - c is scaled by s = exp(U(-j, j)), its chroma further by a = exp(U(-j,
  /// j)) (s a in all) and turned about the grey axis by U(-180 j, 180 j) degrees (featurenerf_colour_jitter_map), then
  /// clamped to [0, 1], so instances of one shape are seen in many more colours than the corpus's textures. Away from
  /// the clamp the map is affine and commutes with compositing over the background. The loss of validation examples
  /// is jittered too (not comparable with an unjittered run's); renders are not. 0 = off (default; not written to
  /// model files); at most 1. Measured on chairs: lower scores (BENCHMARKS.md, "Colour jitter in training: not a lever").
  double colour_jitter = 0.0;
  uint64_t seed = 0;                    ///< "seed": initialisation

  void validate() const;  ///< UsageError naming the key
};

nlohmann::json to_json(const FeatureNerfConfig& config);
/// Missing keys take their defaults; InputError naming `origin` and the key for malformed ones.
FeatureNerfConfig featurenerf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);

}  // namespace semfield
