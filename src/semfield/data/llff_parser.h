// LLFF scene parser (poses_bounds.npy + images/).
#pragma once

#include <filesystem>

#include "semfield/data/parsed_scene.h"

namespace semfield {

/// Parses an LLFF folder: poses_bounds.npy holds N rows of 17 numbers, a row-major 3x5 matrix
/// [R | t | (H, W, focal)] whose rotation columns are LLFF's [down, right, back] axes (converted to
/// OpenGL [right, up, back]), then the near and far scene bounds of that view. The N images are the
/// PNG/JPEG files of images/ in name order; their count and size must match (InputError otherwise).
/// Principal point at the image centre. No splits of their own (Auto = every:8); Framing RealCapture;
/// near/far = the smallest near and largest far bound.
ParsedScene parse_llff(const std::filesystem::path& folder);

}  // namespace semfield
