// The weight-free segmenter for any feature field (descriptor, DINO, CLIP, files, ...): cosine similarity of each
// pixel's rendered feature to the prompts' features, an adaptive threshold, the regions connected to the clicks
// without crossing depth edges, and an edge-aware refinement of the boundary (docs/segmentation.md).
#pragma once

#include <vector>

#include <mutex>
#include <optional>

#include <ATen/core/Tensor.h>

#include "semfield/segment/segmenter.h"
#include "semfield/segment/beneath_completion.h"
#include "semfield/segment/support_plane.h"

namespace semfield {

struct SimilarityOptions {
  /// Whitening regularisation: eigenvalues of the feature covariance are floored at this fraction of the largest
  /// before inverting (0 disables whitening: plain standardised features).
  double whitening_epsilon = 0.01;
  int64_t whitening_pixels = 16384;  ///< opaque pixels (evenly strided) the covariance is estimated from
  int prompt_radius = 1;          ///< a prompt's feature is the mean over the (2r+1)^2 opaque pixels around it
  double min_threshold = 0.2;     ///< clamp of the adaptive (Otsu) similarity threshold of the first mask
  double max_threshold = 0.9;
  /// The prompted view's threshold: just above the largest relative jump of the seeds' region area as the threshold
  /// is lowered (region_jump_threshold), when some jump exceeds this ratio; else Otsu's. 0 = Otsu's only.
  double region_jump_ratio = 1.5;
  int64_t region_min_pixels = 16;  ///< regions smaller than this (or 1/2000 of the view) are never cut at a jump
  /// Rounds of re-fitting object/background clusters and re-classifying (GrabCut-like). Mean click IoU of two
  /// generated scenes (64 px / 96 px): 0 rounds 0.55 / 0.77, 1 round 0.70 / 0.71, 2 rounds 0.70 / 0.60.
  int appearance_iterations = 1;
  int foreground_clusters = 4;    ///< spherical k-means clusters of the object's features
  int background_clusters = 8;    ///< ... and of the confident background's (similarity < background_fraction * threshold)
  double background_fraction = 0.5;
  int64_t cluster_pixels = 8192;  ///< pixels (evenly strided) each clustering uses at most
  double depth_edge = 0.04;       ///< neighbours whose z-depths differ by more than this fraction are not connected
  double min_opacity = 0.5;       ///< pixels below it are empty space and never selected
  int refine_iterations = 2;      ///< edge-aware boundary refinement passes (0 = off)
  int refine_radius = 2;          ///< the refinement's window is (2r+1)^2
  double refine_feature_sigma = 0.35;  ///< width of the feature term exp(-|f_p - f_q|^2 / (2 sigma^2)), unit features
  /// Never select the view's support plane (support_plane.h) when the clicks are above it: the table or floor the
  /// clicked object stands on. A click on the plane itself selects as usual.
  bool exclude_support_plane = true;
  SupportPlaneOptions support_plane;  ///< its depth_edge is ignored: the plane uses depth_edge above
  /// With the support plane excluded: every mask is completed with what lies beneath it down to the plane
  /// (beneath_completion.h), after the refinement.
  BeneathOptions beneath;
};

/// A whitening transform of standardised features: z = (x - mean) transform, so the features of the fitted
/// pixels have (regularised) identity covariance. Redundant channels (the same colour at several blur scales)
/// then count once, and weak but consistent directions (a hue) as much as strong ones.
struct Whitening {
  at::Tensor mean;       ///< [C]
  at::Tensor transform;  ///< [C,C]
};

/// What the segmenter remembers of the prompted object.
struct SimilarityTarget {
  Whitening whitening;  ///< fitted on the prompted view, reused in every followed view
  at::Tensor positive;  ///< [P, C] unit prompt features
  at::Tensor negative;  ///< [N, C] (N may be 0)
  double threshold = 0;
  at::Tensor foreground;  ///< [Kf, C] unit centroids of the object's appearance (undefined before fitting)
  at::Tensor background;  ///< [Kb, C] unit centroids of the background's appearance
  bool exclude_support = false;  ///< the clicks were above the prompted view's support plane: exclude it in every view
};

/// maps [C,H,W] -> standardised [C,H,W]: each channel minus mean, over std ([C]; the field's own teacher statistics,
/// so the same surface gives the same vector in every view).
at::Tensor standardise_features(const at::Tensor& maps, const at::Tensor& mean, const at::Tensor& std);
/// standardise_features, then each pixel scaled to unit length.
at::Tensor unit_features(const at::Tensor& maps, const at::Tensor& mean, const at::Tensor& std);

/// Whitening of features [C,H,W] fitted on the pixels with opacity >= min_opacity (at most max_pixels of them,
/// evenly strided): mean m, covariance V = Q diag(l) Q^T, transform = Q diag(1 / sqrt(l + epsilon max(l))).
/// epsilon <= 0 (or no opaque pixel) gives the identity (mean 0).
Whitening fit_whitening(const at::Tensor& features, const at::Tensor& opacity, double epsilon, int64_t max_pixels,
                        double min_opacity = 0.5);
/// Whitened features [C,H,W], each pixel scaled to unit length.
at::Tensor whiten_unit(const at::Tensor& features, const Whitening& whitening);

/// Otsu's threshold of values [N] (a 256-bin histogram over their range): the cut maximising the between-class
/// variance. Returns the single value for constant input.
double otsu_threshold(const at::Tensor& values);

/// Prompt features from unit features [C,H,W] and opacity [H,W]; the threshold is Otsu's cut of the best positive
/// similarity over the opaque pixels, clamped to the options' range. Clicks on empty pixels (opacity below the
/// minimum over their whole window) are skipped; a box without clicks uses its centre as the positive click.
SimilarityTarget make_similarity_target(const at::Tensor& unit, const at::Tensor& opacity, const Prompts& prompts,
                                        const SimilarityOptions& options);

/// Candidate pixels bool [H,W] of unit features [C,H,W]. Before the appearance models are fitted, with s+ / s- the
/// best cosine to a positive / negative prompt feature: candidate = opaque & s+ > threshold & s+ > s-. After: the
/// nearest-centroid rule, candidate = opaque & (best cosine to foreground centroids and positive prompts) > (best
/// cosine to background centroids and negative prompts). Both: inside `box` when given.
at::Tensor similarity_candidates(const at::Tensor& unit, const at::Tensor& opacity, const SimilarityTarget& target,
                                 const std::optional<Eigen::Vector4d>& box, const SimilarityOptions& options);

/// Fits the target's appearance models on unit features [C,H,W]: foreground = spherical k-means of the mask's
/// pixels, background = of the opaque pixels outside the mask whose best prompt similarity is below
/// background_fraction * threshold (confident background; the uncertain band in between feeds neither).
void fit_appearance(SimilarityTarget& target, const at::Tensor& unit, const at::Tensor& mask, const at::Tensor& opacity,
                    const SimilarityOptions& options);

/// Bottleneck (widest-path) similarity from the seeds: for each pixel, the largest t such that a 4-connected path
/// from a seed pixel reaches it through pixels of score > t (scores [H,W]; the path never crosses a depth edge, see
/// grow_regions); -inf where unreachable. grow_regions(score > t, seeds) == (bottleneck > t) for every t.
at::Tensor seed_bottleneck(const at::Tensor& score, const at::Tensor& seeds, const at::Tensor& depth, double depth_edge);

/// The threshold in [lo, hi] (0.005 steps) just above the largest relative growth of the region {bottleneck > t}
/// as t is lowered by one step, among regions of at least min_area pixels; none when no growth exceeds min_ratio.
std::optional<double> region_jump_threshold(const at::Tensor& bottleneck, double lo, double hi, int64_t min_area,
                                            double min_ratio);

/// The candidate pixels (bool [H,W]) 4-connected to a seed pixel (bool [H,W]) through candidates, never stepping
/// between neighbours whose z-depths (depth [H,W]) differ by more than depth_edge * the smaller one.
at::Tensor grow_regions(const at::Tensor& candidates, const at::Tensor& seeds, const at::Tensor& depth,
                        double depth_edge);

/// Edge-aware refinement: in each pass, every pixel within refine_radius of the mask boundary takes the weighted
/// majority of its window, weights w(p,q) = exp(-|f_p - f_q|^2 / (2 sigma^2)) for opaque q on the same side of
/// every depth edge (|z_p - z_q| <= depth_edge * min), 0 otherwise; empty pixels are never selected.
/// `pixel_major`: the same features as [H,W,C] when the caller has them (made here otherwise): a window's
/// features are then contiguous, where the channel-major map scatters each over C planes.
at::Tensor refine_mask(const at::Tensor& mask, const at::Tensor& unit, const at::Tensor& depth,
                       const at::Tensor& opacity, const SimilarityOptions& options,
                       const at::Tensor& pixel_major = at::Tensor());

class SimilaritySegmenter final : public Segmenter {
 public:
  /// `source` (features: UsageError for one with classes) must outlive the segmenter; `scale` picks the scale
  /// whose maps are compared.
  SimilaritySegmenter(const SemanticSource& source, SimilarityOptions options = {}, size_t scale = 0);

  std::string method() const override { return "feature-similarity"; }
  /// maps = standardised features at the image resolution; also does the view's share of a click
  /// (precompute), so a click on the prepared view costs only what depends on the prompts.
  SegmentView prepare(const Camera& camera, const std::string& name) const override;
  /// The part of segment() that depends on the view alone: its whitening and whitened unit features. Kept for
  /// the last view it was done for (recognised by its maps tensor: the same tensor object, not equal values);
  /// segment() on that view reuses it, on any other view computes it. Thread-safe.
  void precompute(const SegmentView& view) const;
  at::Tensor segment(const SegmentView& view, const Prompts& prompts) override;
  /// Seeds: the re-projected clicks and the candidates under `seed`.
  at::Tensor follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const override;

  const SimilarityTarget& target() const { return m_target; }

 private:
  /// region_jump_threshold of the seeds' bottleneck on the target's positive similarity (none: keep the current).
  std::optional<double> jump_threshold(const SegmentView& view, const at::Tensor& unit, const at::Tensor& seeds,
                                       const std::optional<Eigen::Vector4d>& box, const SupportPlane* excluded) const;
  /// `refine`: refine_mask along image/depth edges (when the options ask for it), then complete_beneath, with
  /// `pixel_major` the unit features as [H,W,C] if at hand. The pixels of `excluded` (a support plane, or null)
  /// are never selected.
  at::Tensor mask_from_seeds(const SegmentView& view, const at::Tensor& unit, const at::Tensor& seeds,
                             const std::optional<Eigen::Vector4d>& box, const SupportPlane* excluded,
                             bool refine = true, const at::Tensor& pixel_major = at::Tensor()) const;
  /// The view's support plane when the options ask for it (none otherwise, or when the view has none).
  std::optional<SupportPlane> support_plane(const SegmentView& view) const;

  struct ViewFeatures {
    /// The view's maps and depth: the identity test compares both (views may share maps, e.g. in tests), and
    /// holding them keeps it sound (no address reuse).
    at::Tensor maps, depth;
    Whitening whitening;
    at::Tensor unit;         ///< whiten_unit(maps, whitening), [C,H,W]
    at::Tensor pixel_major;  ///< the same as [H,W,C], for refine_mask
    std::optional<SupportPlane> plane;  ///< support_plane(view)
  };
  /// precompute's result for `view`: the kept one, or computed now and kept.
  ViewFeatures view_features(const SegmentView& view) const;
  /// The kept precompute result when it is `view`'s.
  std::optional<ViewFeatures> kept_features(const SegmentView& view) const;

  const SemanticSource& m_source;
  SimilarityOptions m_options;
  size_t m_scale;
  SimilarityTarget m_target;
  mutable std::mutex m_view_mutex;
  mutable std::optional<ViewFeatures> m_view;
};

/// bool [H,W]: the pixels a box covers (prompts.h conventions).
at::Tensor box_mask(const Eigen::Vector4d& box, int width, int height);
/// bool [H,W] with the click pixels of `points` set.
at::Tensor click_seeds(const std::vector<Eigen::Vector2d>& points, int width, int height);

}  // namespace semfield
