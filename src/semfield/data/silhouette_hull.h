// A coarse visual hull over all of space (cells of mip-NeRF 360's contracted space that no view sees as
// background), used by bounds inference to place what opaque pixels show.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "semfield/geometry/camera.h"

namespace semfield {

/// The L-inf norm |p|_inf: how far a point reaches out of the centred cube [-|p|_inf, |p|_inf]^3.
inline double linf(const Eigen::Vector3d& p) { return p.cwiseAbs().maxCoeff(); }

class SilhouetteHull {
 public:
  /// One view's silhouette on a grid of cells: cell (x, y) samples the full-resolution pixel block
  /// [x*stride, (x+1)*stride) x [y*stride, (y+1)*stride).
  struct View {
    Camera camera;                    ///< normalised frame, full-resolution intrinsics
    int width = 0, height = 0;        ///< cells
    int stride = 1;                   ///< full-resolution pixels per cell side
    std::vector<uint8_t> background;  ///< [height, width]: 1 where the cell shows background (nothing)
  };

  /// Carves a resolution^3 grid over the contracted space [-2,2]^3 (the identity inside [-1,1]^3, all
  /// space beyond it in shells that grow with distance, so one grid spans everything at the detail that
  /// matters near the centre). A cell, represented by its centre, stays in the hull when
  ///  - no view that sees it shows background there and in the 8 cells around (silhouettes are sampled
  ///    at cell centres: without that margin thin structures and edges would be carved away),
  ///  - at least two views see it, and their lines of sight spread in angle (the middle eigenvalue of
  ///    the mean of d d^T over the unit sight lines d is at least 0.03, i.e. two lines about 20 degrees
  ///    apart): a cell seen along one direction only is not placed by silhouettes, it could lie anywhere
  ///    on those lines.
  /// Runs on parallel_for.
  SilhouetteHull(const std::vector<View>& views, int resolution);

  /// Where the ray origin + t direction (t >= 0) meets the content the hull holds (normalised
  /// coordinates), or none: the first hull cell on it that at least half as many views see as the
  /// best-seen hull cell on it. Silhouettes from a cap of nearby views leave lobes behind the object
  /// that reach towards the cameras opposite them; few views see a lobe, so it does not count ahead of
  /// the object. Steps of half a cell in contracted space, up to distance 1e4.
  std::optional<Eigen::Vector3d> place(const Eigen::Vector3d& origin, const Eigen::Vector3d& direction) const;

  /// Whether the cell holding point `p` (normalised coordinates) is in the hull.
  bool contains(const Eigen::Vector3d& p) const;

 private:
  int64_t cell_index(const Eigen::Vector3d& p) const;

  int m_resolution = 0;
  std::vector<uint8_t> m_inside;  ///< [res^3], x fastest: views that see the cell (capped at 255), 0 = not in the hull
};

}  // namespace semfield
