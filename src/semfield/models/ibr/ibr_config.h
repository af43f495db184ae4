// Configuration of the image-conditioned radiance model (type "ibr"): network sizes, sampling, source views.
// Every key is documented here once with its default; unknown keys in a config are an error naming the key.
#pragma once

#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "semfield/encoders/resunet.h"

namespace semfield {

struct IbrConfig {
  /// Image encoder (ResUNet to 1/4 resolution): "encoder": {"base_channels", "out_channels"}.
  ResUNetConfig encoder{3, 16, 16};
  int view_hidden = 32;      ///< "view_hidden": width of the per-view MLPs (H)
  int view_features = 16;    ///< "view_features": per-view features after visibility-aware aggregation (G)
  int point_features = 16;   ///< "point_features": per-sample features the ray attention runs on (D)
  int n_coarse = 32;         ///< "n_coarse": stratified samples per ray between the scene box's near and far
  int n_fine = 16;           ///< "n_fine": importance samples per ray drawn from the coarse weights
  /// "n_coarse_render", "n_fine_render": the same at inference (apply, render, eval, segment, serve, validation
  /// renders; not training or fine-tuning steps' rays); 0 = n_coarse / n_fine. Fewer samples trade a little quality
  /// for time: BENCHMARKS.md ("Generalizable models") measures 24 coarse samples for the shipped ibr-synth (trained
  /// with 32 + 16), as gp-nerf-synth renders with fewer than it was trained with.
  int n_coarse_render = 0;
  int n_fine_render = 0;
  int source_views = 8;      ///< "source_views": views a target is rendered from (nearest by pose)
  /// "encode_size": the longest side source images are resampled to before the encoder (encoders/encoder_input.h);
  /// 0: encoded as they are. Colours are still read from the images at their own resolution.
  int encode_size = 0;
  /// "unbounded_extent": for scenes without a bounding box (SceneFrame::unbounded), rays are sampled inside the
  /// frame's box scaled by this factor (the same number of samples over a longer interval).
  double unbounded_extent = 4.0;
  /// "fine_min_opacity": at inference (not in training), rays whose coarse pass reaches at most this opacity keep the
  /// coarse result instead of taking the fine pass (a third of the samples, over what is empty space for them);
  /// 0 = every ray takes it.
  double fine_min_opacity = 1e-3;
  uint64_t seed = 0;         ///< "seed": weight initialisation

  /// UsageError naming the first key out of range.
  void validate() const;
};

nlohmann::json to_json(const IbrConfig& config);

/// `theirs` with `ours`' inference and input settings (encode_size, n_coarse_render, n_fine_render, fine_min_opacity):
/// how a model file's config is compared with a model being trained from its weights (`train-corpus --init`), where
/// only the network's shape and training sampling must agree — a file that renders with other settings, or was written
/// before such a key existed, still fits.
IbrConfig with_inference_settings_of(IbrConfig theirs, const IbrConfig& ours);

/// Throws InputError(origin, key) for unknown keys or malformed values.
IbrConfig ibr_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);

}  // namespace semfield
