// Source images resampled to an encoder's training resolution: see encoder_input.h.
#include "semfield/encoders/encoder_input.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

at::Tensor encoder_input(const at::Tensor& images, int64_t longest_side) {
  SEMFIELD_ASSERT(images.dim() == 4, "encoder_input expects images [B,3,H,W]");
  const int64_t h = images.size(2), w = images.size(3), side = std::max(h, w);
  if (longest_side <= 0 || side == longest_side) return images;
  const double f = static_cast<double>(longest_side) / static_cast<double>(side);
  const int64_t oh = std::max<int64_t>(1, std::llround(static_cast<double>(h) * f));
  const int64_t ow = std::max<int64_t>(1, std::llround(static_cast<double>(w) * f));
  return at::_upsample_bilinear2d_aa(images, at::IntArrayRef({oh, ow}), false);
}

void TrainingImageSide::observe(const at::Tensor& images) {
  SEMFIELD_ASSERT(images.dim() == 4, "TrainingImageSide expects images [B,3,H,W]");
  const int64_t side = std::max(images.size(2), images.size(3));
  int64_t seen = 0;
  if (!m_side.compare_exchange_strong(seen, side) && seen != side) m_side.store(-1);
}

int64_t TrainingImageSide::common() const { return std::max<int64_t>(0, m_side.load()); }

}  // namespace semfield
