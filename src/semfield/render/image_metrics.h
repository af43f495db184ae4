// Image quality metrics for evaluation: PSNR and SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5,
// K1 = 0.01, K2 = 0.03, data range 1, computed per channel and averaged — the convention NeRF papers use).
#pragma once

#include "semfield/io/image.h"

namespace semfield {

/// PSNR in dB of `a` vs `b` (same size, values in [0,1]); +inf for identical images.
double psnr(const Image& a, const Image& b);
/// Mean SSIM over the valid (fully covered) window positions; images must be >= 11 pixels in each axis,
/// smaller ones fall back to a window of their size.
double ssim(const Image& a, const Image& b);

}  // namespace semfield
