// Draws random training rays across all training images at once (instant-ngp batches rays across images),
// with their target colours, from a flat copy of the training pixels.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/data/scene.h"
#include "semfield/kernels/ray_generation.h"

namespace semfield {

struct RayBatch {
  at::Tensor origins, directions;  ///< [R,3]
  at::Tensor rgba;                 ///< [R,4] target colour and alpha (alpha 1 for RGB data)
};

class PixelSampler {
 public:
  /// Copies the views' pixels (RGB or RGBA, any sizes) into one buffer. Throws InputError if a view has
  /// no image loaded.
  explicit PixelSampler(const std::vector<const View*>& views);
  /// `n` rays at uniformly random pixels of all views (each pixel equally likely), at a uniformly random
  /// position inside the pixel (anti-aliasing, as instant-ngp does).
  RayBatch sample(int64_t n, uint64_t seed) const;
  int64_t n_pixels() const { return m_offsets.back(); }

 private:
  kernels::CameraBatch m_cameras;
  std::vector<int64_t> m_offsets;  ///< first flat pixel of each view; back() = total
  std::vector<int> m_widths;
  at::Tensor m_rgba;               ///< [n_pixels, 4]
};

}  // namespace semfield
