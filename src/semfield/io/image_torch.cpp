// Image -> at::Tensor copy.
#include "semfield/io/image_torch.h"

#include <ATen/ATen.h>

#include <cstring>

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

}  // namespace semfield
