// SAM's pre- and post-processing (segment-anything utils/transforms.py ResizeLongestSide, Sam.preprocess,
// Sam.postprocess_masks): resize the longest side, normalise, pad; map prompts; upscale and crop masks back.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>

namespace semfield::foundation {

/// (new_h, new_w) with the longest side = long_side: int(side * long_side / max(h, w) + 0.5).
std::pair<int64_t, int64_t> sam_resized_shape(int64_t height, int64_t width, int64_t long_side);

/// ResizeLongestSide.apply_image: uint8 [H, W, 3] -> uint8 [new_h, new_w, 3] by Pillow's bilinear filter
/// (what torchvision's resize of a PIL image runs).
at::Tensor sam_resize_image(const at::Tensor& rgb_uint8, int64_t long_side);

/// Sam.preprocess: (pixel - mean) / std per channel (float32), CHW, zero-padded bottom/right after
/// normalisation to img_size x img_size: [1, 3, img_size, img_size].
at::Tensor sam_normalize_and_pad(const at::Tensor& rgb_uint8, const std::array<double, 3>& mean,
                                 const std::array<double, 3>& std, int64_t img_size);

/// ResizeLongestSide.apply_coords: [..., 2] (x, y) in original pixels -> model frame (scaled in float64,
/// returned as float32). Boxes [..., 4] map as two corners.
at::Tensor sam_apply_coords(const at::Tensor& coords, int64_t original_h, int64_t original_w, int64_t long_side);
at::Tensor sam_apply_boxes(const at::Tensor& boxes, int64_t original_h, int64_t original_w, int64_t long_side);

/// Sam.postprocess_masks: [B, K, h, w] low-res logits -> bilinear (align_corners=False) to img_size^2, crop
/// to input_size, bilinear to the original size: [B, K, original_h, original_w].
at::Tensor sam_postprocess_masks(const at::Tensor& masks, std::pair<int64_t, int64_t> input_size,
                                 std::pair<int64_t, int64_t> original_size, int64_t img_size);

}  // namespace semfield::foundation
