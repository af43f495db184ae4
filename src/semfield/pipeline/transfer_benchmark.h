// FeatureNeRF's tasks scored on a labelled category dataset (`semfield synth --category`: part maps, keypoints with
// visibility, labelled surface points; docs/formats.md): `semfield eval-transfer`. One source image per instance, as
// the paper (../shared/papers/featurenerf-*.txt §4):
//  - same-camera    instances A and B both seen from view v: A's keypoints / part labels at v go to B's view v
//                   (the paper's cross-instance protocol: each instance encoded from that view and rendered in it)
//  - diff-camera    A from view v_a, B from another view v_b (where 3D consistency matters)
//  - novel-view     one instance encoded from view v_a; its labels at v_a go to a held-out (test) view v_c rendered
//                   from that single image (Table 2)
//  - 3d             A and B each from their own view; A's labelled surface points / 3D keypoints go to B's points
//                   (v_NeRF evaluated at the points directly, no rendering)
// Correspondences are cosine nearest neighbours over the target's foreground (its ground-truth part map > 0, as the
// authors' evaluation). A keypoint is read at its nearest pixel — or, where that pixel is background (a tip or convex
// corner rounded off the object), at the nearest foreground pixel of the source ("keypoints_snapped" counts them;
// before 2026-11-26 they were read on the background, where the teacher's map is zero). PCK thresholds: 2.5 / 5 /
// 7.5 / 10 pixels at 128^2 (scaled with the resolution), 0.025 / 0.05 / 0.075 / 0.1 object units in 3D.
//
// Features: a FeatureNeRF model's descriptor (its config's "descriptor"), or "teacher": the model's teacher's map of
// each source image (the simulated DINO teacher, or DINO's keys for a dino:PATH teacher; bilinearly upsampled; 3D
// points projected into the source image) — the 2D baseline, which has no novel views; or "canonical": an oracle, not
// a descriptor — every pixel's (from the view's depth map) and point's true coordinate in the category's canonical
// frame, matched by Euclidean distance: the ceiling of transfer by canonical position alone, which is what L_coord
// teaches (a part boundary that moves between instances is where it fails). "coordinate" matches the model's own
// regressed x̂ the same way; "hybrid" both heads, [v / |v|, w x̂] by distance (coordinate_weight w).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace semfield {

struct TransferBenchOptions {
  std::filesystem::path model;  ///< a FeatureNeRF model file (also for "teacher": its teacher options are used)
  std::filesystem::path data;   ///< a category dataset (category.json + instance folders)
  std::filesystem::path out;    ///< metrics.json and pictures; empty = none written
  std::string features = "model";  ///< "model" | "coordinate" | "hybrid" | "teacher" | "canonical"
  double coordinate_weight = 2.0;  ///< "hybrid": w, the weight of x̂ (object units) beside the unit descriptor
  std::vector<std::string> settings{"same-camera", "diff-camera", "novel-view", "3d"};
  int pairs = 40;       ///< pairs per setting
  int pictures = 3;     ///< pairs drawn per 2D setting
  uint64_t seed = 0;
  /// RGB instances on a uniform backdrop keyed out before compositing over white, as `apply --key-backdrop` does.
  bool key_backdrop = false;
  bool show_progress = true;
};

/// Runs the settings and returns their scores: per setting {"pairs", "pck": [...], "pck_thresholds": [...],
/// "pck_per_keypoint": {name: {"keypoints", "pck": [...]}}, "part_miou", "part_miou_per_pair": [...] (the pairs'
/// own scores in the order drawn, pairs without a shared part left out; two runs with the same seed, settings and
/// pair count draw the same pairs for every descriptor, so they compare pair by pair — except the teacher, which
/// skips "novel-view" and so draws the later settings' pairs from another point of the sequence)}, plus "features", "model", "data",
/// "category", "seconds". UsageError / InputError for bad input.
/// Each setting also counts **mirror swaps** ("mirror_swaps": {"radius", "eligible", "swapped", "rate"}): a keypoint
/// with a left/right twin (`keypoint_mirror_name`) visible in the target, the two at least 2 radius apart, is eligible;
/// it is swapped when its transferred position lies within the radius of the twin (5 px at 128^2 in 2D, 0.05 object
/// units in 3D: the second PCK threshold). DINO confuses symmetric parts (and the simulated teacher does by design,
/// docs/teachers.md), so the rate says how many keypoint misses are left/right confusions rather than imprecision.
nlohmann::json run_transfer_benchmark(const TransferBenchOptions& options);

/// The left/right twin of a keypoint name ("left_foot_front" <-> "right_foot_front", the generator's convention), or
/// "" when the name has none.
std::string keypoint_mirror_name(const std::string& name);

}  // namespace semfield
