// Masks, id maps and label files of the segmentation commands as PNGs, and the resampling between a view's image
// resolution and the (possibly smaller) resolution its features are rendered at.
#pragma once

#include <filesystem>

#include <ATen/core/Tensor.h>

#include "semfield/geometry/camera.h"

namespace semfield {

/// bool/number [H,W] -> 8-bit gray PNG, 255 where set, 0 elsewhere.
void write_mask_png(const std::filesystem::path& path, const at::Tensor& mask);
/// Reads a mask PNG (any bit depth/channels; the first channel, > 0.5 of full scale is set) -> bool [H,W].
at::Tensor read_mask_png(const std::filesystem::path& path);
/// int64 ids [H,W] in [0, 65535] (8-bit: [0, 255]) -> 16 (or 8)-bit gray PNG of the raw ids (negative ids are written
/// as 0, larger ones clamped).
void write_ids_png(const std::filesystem::path& path, const at::Tensor& ids, int bit_depth = 16);
/// A label file: a 1-channel 8/16-bit PNG of integer ids (0 = unlabelled) of exactly width x height pixels ->
/// int64 [H,W]. InputError naming the file for another size, several channels, or no labelled pixel.
at::Tensor read_label_png(const std::filesystem::path& path, int width, int height);
/// [H,W] float in [0,1] -> turbo-coloured 8-bit RGB PNG.
void write_scalar_png(const std::filesystem::path& path, const at::Tensor& values);

/// The camera resized (Intrinsics::resized) so its longer side is at most max_side pixels (unchanged if it fits).
Camera working_camera(const Camera& camera, int max_side);
/// Nearest-neighbour resampling of a map [H,W] (any dtype) to height x width, pixel centres aligned.
at::Tensor resample_nearest(const at::Tensor& map, int64_t height, int64_t width);
/// Bilinear resampling of a float map [H,W] (align_corners = false).
at::Tensor resample_bilinear(const at::Tensor& map, int64_t height, int64_t width);

}  // namespace semfield
