// Completes a selection with what lies beneath it, down to the support plane: a table's legs under its top.
//
// Why: the parts of an object that stand between its clicked body and the plane (legs, a cone's lowest row, a
// stem) are often thin, in shadow and, to features that describe a neighbourhood, more like the ground around
// them than like the body. Geometry says they belong to it: an object standing on a plane occupies the column
// under what is seen of it. A pixel is added when its surface point is above the plane, lower than a selected
// point within about a margin of it on the plane (the columns), inside the selection's footprint (the convex hull
// of its points' projections onto the plane, grown by the margin), and is reached from the selection without
// crossing a depth edge.
//
// Applied by the feature-similarity segmenter whenever it excludes the support plane (docs/segmentation.md).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

#include "semfield/segment/support_plane.h"

namespace semfield {

struct BeneathOptions {
  bool enabled = true;
  /// Tolerance of the footprint test, in pixels: the median spacing of neighbouring selected points on the plane
  /// (the larger of along rows and along columns). The hull comes from the visible points away from silhouettes
  /// only, so it misses the rim, and a leg flush with the rim projects onto the hull's edge.
  double margin_pixels = 2;
  /// Only selected pixels whose z-depth bends by at most this fraction of itself between neighbours (second
  /// difference along the row and the column) shape the footprint: a silhouette pixel blends the object's depth
  /// with what lies behind it, and its point would stretch the hull towards the background.
  double hull_max_bend = 0.006;
  /// Added pixels lie at least this many plane bands above the plane. Where an object meets the ground the rendered
  /// depth rounds the corner, so the ground under an overhang (a torus's outer side) rises just above the band and
  /// would join. Descriptor click IoU (segment_bench) on seeds 1 / 2 / the built-in scene / seed 3 / the e2e
  /// test's scene, off: 0.848 / 0.869 / 0.875 / 0.914 / 0.837. Chosen with an earlier form (the hull alone, its
  /// margin two pixels across at the median depth): 1 band 0.846 / 0.871 / 0.873 / 0.906 / 0.869; 1.5: 0.854 /
  /// 0.871 / 0.884 / 0.911 / 0.874; 2: 0.854 / 0.871 / 0.885 / 0.911 / 0.876; 3: 0.852 / 0.870 / 0.881 / 0.911 /
  /// 0.877; with 2, margin 1 / 3 pixels and hull bend 0.003 / 0.012 moved no scene by more than 0.012. This form
  /// (the spacing margin, the columns): 0.854 / 0.870 / 0.885 / 0.913 / 0.876, and on seeds 4 / 5, made afterwards,
  /// 0.877 / 0.905 against 0.876 / 0.885 off.
  double min_height_bands = 2;
};

/// The footprint test's geometry: the selection's points projected onto the plane, as a convex polygon in an
/// orthonormal basis of the plane and as the highest point over each cell of a grid, and the highest point of all.
struct Footprint {
  Eigen::Vector3d origin, u, v;      ///< a point of the plane and its in-plane axes
  std::vector<Eigen::Vector2d> hull;  ///< counter-clockwise; empty when the selection has no point above the plane
  double top = 0;                     ///< highest signed distance of a selected point
  double margin = 0;                  ///< world units
  /// The highest selected point over each cell of a grid on the plane (cell edge = margin, or 1/1000 of the
  /// footprint's extent if larger), row-major; -inf over cells without one.
  Eigen::Vector2d grid_origin = Eigen::Vector2d::Zero();
  double cell = 0;
  int64_t grid_w = 0, grid_h = 0;
  std::vector<float> column_top;
  /// The highest selected point over q's cell and its eight neighbours (-inf where none).
  double column_top_near(const Eigen::Vector2d& q) const;
  /// In-plane coordinates of p's projection.
  Eigen::Vector2d project(const Eigen::Vector3d& p) const { return {u.dot(p - origin), v.dot(p - origin)}; }
  /// Whether q (in-plane) lies inside the hull or within `margin` of it.
  bool contains(const Eigen::Vector2d& q) const;
};

/// The footprint of the selected pixels (bool [H,W]) that lie above the plane's band, away from silhouettes.
Footprint selection_footprint(const at::Tensor& mask, const SupportPlane& plane, const at::Tensor& depth,
                              const BeneathOptions& options);

/// `mask` (bool [H,W]) with the pixels beneath it added (see above). `excluded` (bool [H,W] or undefined) are never
/// added; neighbours whose z-depths (depth [H,W]) differ by more than depth_edge * the smaller are not connected,
/// pixels of opacity below min_opacity are empty. Returns `mask` unchanged when disabled or when it has no point
/// above the plane.
at::Tensor complete_beneath(const at::Tensor& mask, const SupportPlane& plane, const at::Tensor& depth,
                            const at::Tensor& opacity, const at::Tensor& excluded, double depth_edge,
                            double min_opacity, const BeneathOptions& options = {});

}  // namespace semfield
