// Colour maps for turning scalar images (depth, opacity, error) into PNGs people can look at.
#pragma once

#include "semfield/io/image.h"

namespace semfield {

/// Maps a 1-channel image to RGB with the turbo colour map; values are normalised by [lo, hi]
/// (if lo >= hi, by the image's 1st and 99th percentiles of values > 0). Zero-valued pixels (no data)
/// become black when `zero_is_empty`.
Image apply_turbo(const Image& scalar, float lo = 0.0f, float hi = 0.0f, bool zero_is_empty = true);

}  // namespace semfield
