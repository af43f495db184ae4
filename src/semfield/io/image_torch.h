// Bridge between the plain host Image (io/image.h) and LibTorch tensors; both ways copy.
#pragma once

#include <ATen/core/Tensor.h>

#include "semfield/io/image.h"

namespace semfield {

/// A new contiguous CPU float tensor holding the image's values: [H, W] for a one-channel image (depth,
/// ids, masks), [H, W, C] otherwise. The tensor owns its memory, so it outlives `image`. An empty image
/// is a UsageError.
at::Tensor image_to_tensor(const Image& image);

/// A new Image holding a tensor's values as floats (any dtype and device; integer ids stay exact up to 2^24):
/// [H, W] -> one channel, [H, W, C] -> C channels. Any other shape, or an empty tensor, is a UsageError.
Image tensor_to_image(const at::Tensor& tensor);

}  // namespace semfield
