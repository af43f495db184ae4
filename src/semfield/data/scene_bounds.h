// Bounds inference for NeRF-synthetic / instant-ngp scenes: how far the visible content reaches (from
// depth maps, image alpha, or a uniform background colour), the aabb_scale whose box holds it, and the
// warnings when a file's own box does not (docs/formats.md, "Scene bounds").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "semfield/data/scene.h"
#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"

namespace semfield {

/// Bounds inference samples at most this many views, spread evenly over the scene...
constexpr size_t kBoundsMaxViews = 64;
/// ...each on a grid of at most this many cells along its longer side.
constexpr int kBoundsGridSize = 128;

/// The frames (indices into n_frames, ascending) bounds inference samples: all of them up to
/// kBoundsMaxViews, else kBoundsMaxViews spread evenly, first and last included. Independent of splits
/// and downscaling, so `info`, `train` and every later load of a scene infer the same box.
std::vector<size_t> bounds_sample_frames(size_t n_frames);

/// One view as bounds inference sees it: the full-resolution pixel at the centre of each cell of a
/// coarse grid (nearest samples, never averages: an averaged alpha or depth is no value the scene has).
struct BoundsView {
  std::string name;
  Camera camera;              ///< normalised frame, full-resolution intrinsics
  int width = 0, height = 0;  ///< cells
  int stride = 1;             ///< full-resolution pixels per cell side
  bool has_alpha = false;     ///< the image has an alpha channel and some sample below 1
  std::vector<uint8_t> rgba;  ///< [height, width, 4], 8-bit; alpha 255 without an alpha channel
  std::vector<float> depth;   ///< [height, width] z-depth, normalised units, 0 = unknown; empty: no depth map

  /// Full-resolution pixel position (u, v) of cell (x, y)'s sample (a pixel centre).
  Eigen::Vector2d pixel(int x, int y) const;
};

/// Samples a view: `image` is its full-resolution image (1-4 channels, values in [0,1]); `depth`, when
/// not null, its depth map at the same size in normalised units (0 or non-finite = unknown; a map of
/// another size is ignored). `camera` is in the normalised frame with full-resolution intrinsics.
BoundsView sample_bounds_view(std::string name, const Camera& camera, const Image& image, const Image* depth);

struct BoundsInference {
  SceneBounds bounds;
  std::vector<std::string> warnings;  ///< complete user-facing messages (load_scene logs them)
};

/// Chooses the box of a UnitCube scene from sampled views. Evidence, the first that applies:
///  1. depth maps: valid depth (not on a transparent pixel) back-projected; each point counts with its
///     L-inf distance from the centre;
///  2. alpha (or, for images without one, a colour shared by the borders of the images: a composited
///     background such as NeRF-synthetic's white): unless the images are opaque to their borders, each
///     opaque pixel counts with the smallest centred box its ray touches (a ray that misses a box proves
///     content outside it); when that proves content beyond [-1,1]^3, a SilhouetteHull places what the
///     pixels show (SilhouetteHull::place on each ray) to measure how far it reaches;
///  3. images opaque to their borders, no depth: the background is unbounded (extent unknown).
/// content_extent is the 99th percentile of the counted values (a few stray pixels do not grow the box).
/// Without `file_aabb_scale` the box is the smallest power of two in [1, 128] that holds the content
/// (a 1% margin), or, for an unbounded background, the cameras (at least 2); never below 1, today's
/// default, so object-centric scenes keep [-1,1]^3. With `file_aabb_scale` the file's box is kept.
/// Warnings: an inferred box other than 1; visible content beyond the file's box, or an unbounded
/// background in a bounded one (naming the view that loses most). Cameras outside a bounded box are
/// normal (object-centric captures) and only mentioned, in those warnings, when they sit inside the
/// content (most of what a camera sees lies farther from the centre than it does).
/// `camera_positions`: every camera of the scene (normalised; an unbounded background's box holds them);
/// `file`: the transforms file messages name.
BoundsInference infer_bounds(const std::vector<BoundsView>& views, const std::vector<Eigen::Vector3d>& camera_positions,
                             std::optional<double> file_aabb_scale, const std::filesystem::path& file);

}  // namespace semfield
