// Bridge from the plain host Image (io/image.h) to LibTorch tensors; copies.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/io/image.h"

namespace semfield {

/// A new contiguous CPU float tensor holding the image's values: [H, W] for a one-channel image (depth,
/// ids, masks), [H, W, C] otherwise. The tensor owns its memory, so it outlives `image`. An empty image
/// is a UsageError.
at::Tensor image_to_tensor(const Image& image);

}  // namespace semfield
