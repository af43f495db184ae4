// Image <-> at::Tensor copies.
#include "semfield/io/image_torch.h"

#include <ATen/ATen.h>

#include <cstring>
#include <string>

#include "semfield/core/error.h"

namespace semfield {

at::Tensor image_to_tensor(const Image& image) {
  if (image.empty()) throw UsageError("image_to_tensor: the image is empty");
  SEMFIELD_ASSERT(image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
                  "image_to_tensor: pixel count does not match width x height x channels");
  at::Tensor out = image.channels == 1 ? at::empty({image.height, image.width}, at::kFloat)
                                       : at::empty({image.height, image.width, image.channels}, at::kFloat);
  std::memcpy(out.data_ptr<float>(), image.pixels.data(), image.pixels.size() * sizeof(float));
  return out;
}

Image tensor_to_image(const at::Tensor& tensor) {
  if (tensor.dim() != 2 && tensor.dim() != 3)
    throw UsageError("tensor_to_image: expected [H, W] or [H, W, C], got " + std::to_string(tensor.dim()) +
                     " dimensions");
  if (tensor.numel() == 0) throw UsageError("tensor_to_image: the tensor is empty");
  const at::Tensor f = tensor.to(at::kCPU, at::kFloat).contiguous();
  Image image(static_cast<int>(f.size(1)), static_cast<int>(f.size(0)), f.dim() == 3 ? static_cast<int>(f.size(2)) : 1);
  std::memcpy(image.pixels.data(), f.data_ptr<float>(), image.pixels.size() * sizeof(float));
  return image;
}

}  // namespace semfield
