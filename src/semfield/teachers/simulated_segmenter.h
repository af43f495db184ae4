// A simulated 2D semantic segmenter: a measuring instrument, not a model. GNeSF-style methods take the 2D semantic
// maps of a scene's source views from a real segmenter (Mask2Former in the paper); no such weights can be
// downloaded here, so benchmarks and training corpora use ground-truth maps corrupted the way real segmenters err,
// calibrated to a requested 2D mIoU. The real path (maps from any segmenter, as files: `labels:DIR`) stays first.
//
// What it does to one view's ground-truth label map, in this order, at severity s >= 0 (0 = the ground truth):
//   1. missed small objects: every connected segment (4-connected, one id) smaller than 2 % x s of the image takes
//      the majority id around it (small things vanish into their surroundings);
//   2. whole-segment confusions: each remaining segment of at least 16 pixels is, with probability min(1, 0.15 s),
//      labelled as its class's confusion partner — one fixed other class of the scene per class and seed, so a
//      class is confused consistently across views (a chair read as a sofa), as real segmenters do;
//   3. boundary jitter: every pixel takes the id found at a smoothly displaced position (a sum of three random
//      low-frequency waves per axis, amplitude 4 % x s of the image's larger side): boundaries wobble by a few
//      pixels instead of flipping isolated pixels;
//   4. spurious blobs: round(3 s x area / 128^2) ellipses (radii 2-8 % of the smaller side) of a random class of
//      the scene.
// All draws come from splitmix64 keyed by (seed, view key), so a view's corruption is reproducible and independent
// of the other views. SimulatedSegmenter finds the severity that gives a target mIoU over a set of views by
// bisection (the errors grow monotonically with s for fixed draws).
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/io/image.h"

namespace semfield {

/// An integer label map: ids[y * width + x] >= 0 is a class, -1 unlabelled.
struct LabelMap {
  int width = 0, height = 0;
  std::vector<int32_t> ids;
  int32_t at(int x, int y) const { return ids[static_cast<size_t>(y) * width + x]; }
};

/// A single-channel id image (View::semantic / instance, a read label PNG) as a LabelMap, and back (negative ids
/// written as 0).
LabelMap label_map_from_image(const Image& image);
Image label_map_to_image(const LabelMap& map);

struct SegmentationScore {
  double miou = 0;      ///< mean IoU over the classes present in the ground truth or the prediction
  double accuracy = 0;  ///< pixel accuracy over labelled ground-truth pixels
  int classes = 0;      ///< classes the mean is over
};

/// Scores predictions against ground truth over a set of views: one confusion matrix accumulated over all of them
/// (the dataset-level mIoU of semantic segmentation benchmarks). Unlabelled ground-truth pixels are skipped.
/// UsageError when the lists or a pair of maps differ in size.
SegmentationScore score_segmentation(const std::vector<LabelMap>& predictions, const std::vector<LabelMap>& truth);

/// One view's corruption at `severity` (see the file comment). `classes`: the scene's class ids (blobs and
/// confusion partners are drawn from them); `view_key` keys the view's draws.
LabelMap simulate_segmentation(const LabelMap& truth, const std::vector<int32_t>& classes, double severity,
                               uint64_t seed, uint64_t view_key);

class SimulatedSegmenter {
 public:
  /// Calibrates the severity on `truth` (views like those it will segment) so that the mIoU of its output over them,
  /// averaged over several sets of draws, is `target_miou` (in (0, 1]); classes are those occurring in `truth`. UsageError for a
  /// target out of range or no labelled pixels.
  SimulatedSegmenter(const std::vector<LabelMap>& truth, double target_miou, uint64_t seed);
  /// Calibrates on the very draws segment() gives these views: truth[i] segmented with view key keys[i] (one per
  /// view), so the maps written for them reach the target (within the bisection's tolerance where the mIoU is
  /// continuous in the severity; a whole-segment confusion flips at one severity).
  SimulatedSegmenter(const std::vector<LabelMap>& truth, double target_miou, uint64_t seed,
                     const std::vector<uint64_t>& keys);

  double severity() const { return m_severity; }
  double target_miou() const { return m_target; }
  /// The mIoU reached on the calibration views (within ~0.01 of the target unless it is unreachable): the mean over
  /// sets of draws, or, calibrated on given keys, that of those draws.
  double achieved_miou() const { return m_achieved; }
  const std::vector<int32_t>& classes() const { return m_classes; }

  LabelMap segment(const LabelMap& truth, uint64_t view_key) const;

 private:
  std::vector<int32_t> m_classes;
  double m_target = 0, m_severity = 0, m_achieved = 1;
  uint64_t m_seed = 0;
};

}  // namespace semfield
