// Configuration of GNeSF (type "gnesf", ../shared/papers/gnesf-*.txt): the image-conditioned radiance network it
// renders geometry with (models/ibr) and the semantic head on top of it. Every key is documented here once with its
// default; unknown keys are an error naming the key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "semfield/models/gnesf/geometry_volume.h"
#include "semfield/models/ibr/ibr_config.h"

namespace semfield {

/// How a sample's semantics are formed (the rows of the paper's ablation, Table 4).
enum class GnesfVote {
  Probability,  ///< "prob": soft voting of the source views' class probabilities (Eq. 4; the paper's choice)
  Logit,        ///< "logit": soft voting of their log-probabilities, then a softmax (the ablation's "Logit" row)
  Direct,       ///< "direct": no voting: a semantic head on the aggregated feature predicts a closed set of classes
};

const char* gnesf_vote_name(GnesfVote vote);

struct GnesfConfig {
  IbrConfig radiance;        ///< "radiance": the radiance network's config (models/ibr/ibr_config.h)
  GnesfVote vote = GnesfVote::Probability;  ///< "vote": "prob" | "logit" | "direct"
  /// "visibility": the learned visibility module: a per-view gate in [0,1] that removes occluded views from the
  /// vote (their weight goes to the others); false = every valid view votes by its score alone.
  bool visibility = true;
  int vote_hidden = 32;      ///< "vote_hidden": width of the voting MLP f_v (two hidden layers)
  int direct_classes = 16;   ///< "direct_classes": the closed class set of "direct" (ids 0..K-1)
  /// "train_radiance": whether corpus training also updates the radiance network (false: it is frozen, usually
  /// initialised from a trained ibr model with `train-corpus --init`, and only the semantic head learns).
  bool train_radiance = false;
  /// "label_severity": [min, max] severity of the simulated 2D segmenter (teachers/simulated_segmenter.h) that
  /// corrupts the source views' ground-truth maps during corpus training, drawn uniformly per example.
  double label_severity_min = 0.0, label_severity_max = 1.2;
  /// "label_gt": the ground-truth maps the corpus provides for sources and targets: "semantic" | "instance".
  std::string label_gt = "semantic";
  /// "geometry": the geometry encoding volume (geometry_volume.h: {"resolution", "views", "channels",
  /// "truncation_voxels", "near_weight", "seed"}), or null (the default) for none. With it, 3D labels use the SDF's
  /// sign-change test for visibility, and "semantic_weights": "sdf" renders semantics with Eq. 8-9's weights.
  GeometryVolumeConfig geometry;
  /// "semantic_weights": the weights semantics are rendered with: "density" (the radiance network's compositing
  /// weights, Eq. 5) or "sdf" (Eq. 8, 9 on the geometry volume's SDF; needs "geometry").
  std::string semantic_weights = "density";
  /// "radiance_density": what colour renders (view synthesis) composite with: "ibr" (default: the radiance network's
  /// ray attention) or "sdf" (the geometry volume's SDF as VolSDF density, sdf_composite_weights, over the radiance
  /// network's blend of source colours at each ray's heaviest samples; needs "geometry").
  std::string radiance_density = "ibr";
  /// "sdf_mask_sources": with a geometry volume, 3D labels also drop each source view whose segment to the point the
  /// SDF test finds blocked (the paper's masking); false (default): the test only picks the camera a point is looked
  /// at from, and the learned vote weighs that camera's sources (masking scored lower on unseen scenes:
  /// BENCHMARKS.md, "GNeSF").
  bool sdf_mask_sources = false;
  /// "train_geometry_only": corpus training updates the geometry volume alone (the TSDF loss), not the voting head.
  bool train_geometry_only = false;
  uint64_t seed = 0;         ///< "seed": the head's initialisation

  /// UsageError naming the first key out of range.
  void validate() const;
};

nlohmann::json to_json(const GnesfConfig& config);
/// Throws InputError(origin, key) for unknown keys or malformed values.
GnesfConfig gnesf_config_from_json(const nlohmann::json& json, const std::filesystem::path& origin);

}  // namespace semfield
