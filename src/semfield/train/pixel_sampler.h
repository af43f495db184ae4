// Draws random training rays across all training images at once (instant-ngp batches rays across images),
// with their target colours, from an 8-bit store of the training pixels that stays under a memory cap
// (docs/memory.md): every view resident when they fit, else a rotating subset of views.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/kernels/ray_generation.h"

namespace semfield {

struct RayBatch {
  at::Tensor origins, directions;  ///< [R,3]
  at::Tensor rgba;                 ///< [R,4] target colour and alpha (alpha 1 for RGB data)
};

/// Bytes a view takes in the store: 8-bit RGBA, 4 bytes a pixel (float RGBA would take 16).
constexpr int64_t kStoreBytesPerPixel = 4;
/// Pixels decoded per training step, on average, that the automatic rotation interval aims at (PNG decoding runs
/// at ~40 Mpx/s on one core, a training step takes ~0.15 s on two: 0.5 Mpx is ~10 % of the step).
constexpr int64_t kRotationPixelsPerStep = 500'000;

struct PixelSamplerOptions {
  /// Most bytes the stored pixels may take; 0 = no cap (every view resident). When the views do not fit,
  /// a subset of them is resident and `rotate_fraction` of it is replaced every `rotate_every` steps.
  int64_t memory_cap_bytes = 0;
  /// Steps between rotations; 0 = auto: as often as keeps decoding to ~kRotationPixelsPerStep pixels a step
  /// (a tenth of a 2-core step's time), at least every 10 and at most every 1000 steps.
  int64_t rotate_every = 0;
  double rotate_fraction = 0.25;
  uint64_t seed = 0;         ///< the order in which views rotate through the store
  int64_t start_step = 0;    ///< the resident subset is a function of the step, so a resumed run continues it
  /// How to decode views that have no pixels (a scene loaded without images); required for such views.
  const LoadOptions* reload = nullptr;
  bool show_progress = false;  ///< a progress bar while the first views load (20 or more)
};

/// What the store holds, reported when training starts.
struct ImageMemoryPlan {
  int64_t views = 0, pixels = 0;      ///< all training views
  int64_t store_bytes = 0;            ///< every view in the store (4 bytes a pixel)
  int64_t float_bytes = 0;            ///< the same as float RGBA (what loading images as floats takes)
  int64_t cap_bytes = 0;              ///< 0 = none
  int64_t resident_views = 0;         ///< views in memory at once
  int64_t resident_bytes_max = 0;     ///< upper bound of the store's bytes at any time
  int64_t rotate_every = 0, rotate_views = 0;  ///< 0 when every view is resident
  double load_seconds = 0;      ///< decoding the first resident views
  double rotation_seconds = 0;  ///< decoding arrivals at rotations, so far
  bool rotating() const { return rotate_views > 0; }
  /// One line: "120 views, 9.95 Gpx: 8-bit store 39.8 GB (float: 159 GB); cap 12 GB: ...".
  std::string describe() const;
  nlohmann::json to_json() const;
};

class PixelSampler {
 public:
  /// Stores the views' pixels (RGB or RGBA, any sizes) as 8-bit RGBA: from View::rgb when loaded, else
  /// decoded with load_view_colour(view, *options.reload). Throws InputError when a view has no pixels and
  /// no reload options are given, UsageError when the cap is smaller than the largest view.
  explicit PixelSampler(const std::vector<const View*>& views, const PixelSamplerOptions& options = {});
  /// `n` rays at uniformly random pixels of the resident views (each pixel equally likely), at a uniformly
  /// random position inside the pixel (anti-aliasing, as instant-ngp does).
  RayBatch sample(int64_t n, uint64_t seed) const;
  /// Brings the resident subset to the one `step` uses (views leaving are freed before views arriving are
  /// decoded, so the cap holds throughout). Returns whether it changed; never does when all are resident.
  bool advance(int64_t step);
  int64_t n_pixels() const { return m_offsets.back(); }  ///< resident pixels
  int64_t resident_bytes() const { return n_pixels() * kStoreBytesPerPixel; }
  /// The most bytes the store has held at once so far.
  int64_t peak_bytes() const { return m_peak_bytes; }
  /// Indices (into the constructor's views) of the resident views, in store order.
  std::vector<int> resident_views() const;
  const ImageMemoryPlan& plan() const { return m_plan; }

 private:
  struct Slot {
    int view = 0;
    at::Tensor rgba;  ///< uint8 [h*w, 4]
  };
  std::vector<int> window(int64_t rotation) const;
  void load(const std::vector<int>& wanted, bool show_progress);
  at::Tensor store_view(int view) const;

  std::vector<const View*> m_views;
  PixelSamplerOptions m_options;
  ImageMemoryPlan m_plan;
  std::vector<int> m_order;  ///< view indices in rotation order
  int64_t m_rotation = -1;
  int64_t m_peak_bytes = 0;
  kernels::CameraBatch m_cameras;  ///< every view's camera, indexed by view
  std::vector<Slot> m_slots;
  std::vector<int64_t> m_offsets{0};  ///< first flat pixel of each slot; back() = resident total
};

/// The default image-memory cap: half the machine's physical memory.
int64_t default_image_memory_cap();

}  // namespace semfield
