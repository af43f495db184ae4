// Pillow-exact resampling of 8-bit images (Image.resize with BILINEAR or BICUBIC), because the reference
// preprocessing of SAM (torchvision resize of a PIL image) and CLIP (Resize(224, bicubic)) runs through it.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield::foundation {

enum class PilFilter { Bilinear, Bicubic };

/// Resizes an RGB(-like) uint8 image [H, W, C] to [out_height, out_width, C] exactly as Pillow 9 does for
/// 8-bit modes: separable convolution with the filter widened by the downscale factor (antialiasing), weights
/// normalised per output pixel and quantised to 22 fractional bits, a horizontal then a vertical pass, each
/// rounded and clamped to 0..255. Sizes must be >= 1 (UsageError otherwise).
at::Tensor pil_resize(const at::Tensor& image, int64_t out_height, int64_t out_width, PilFilter filter);

/// float RGB [H, W, 3] in [0, 1] -> uint8 [H, W, 3] (round to nearest), the teachers' entry to pil_resize.
at::Tensor to_uint8_image(const at::Tensor& rgb);

}  // namespace semfield::foundation
