// What image-conditioned models feed their CNN encoders: source images at the resolution the encoder was trained on.
// A CNN's receptive fields are in pixels, so a photo at another resolution than the training images gives features
// the rest of the network never saw; resampling the photo to the training images' longest side keeps them in
// distribution. The encoders' maps are sampled in image coordinates scaled to the map (gather_bilinear with the
// cameras' image sizes), so nothing else changes.
#pragma once

#include <atomic>
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield {

/// Whether `longest_side` is a valid "encode_size" of a model config: 0 (images as they are) or 8..4096 pixels.
constexpr bool valid_encode_size(int64_t longest_side) {
  return longest_side == 0 || (longest_side >= 8 && longest_side <= 4096);
}

/// images [B,3,H,W] resampled (antialiased bilinear) so that the longest side is `longest_side`, aspect kept; as they
/// are when longest_side is 0 or already theirs.
at::Tensor encoder_input(const at::Tensor& images, int64_t longest_side);

/// The longest side of the source images a model trains on, observed as they pass (thread-safe): what its
/// config_json records as encode_size when that is 0.
class TrainingImageSide {
 public:
  void observe(const at::Tensor& images);  ///< [B,3,H,W]
  /// The side every observed image shared; 0 when none was observed or they differed.
  int64_t common() const;

 private:
  std::atomic<int64_t> m_side{0};  ///< 0 none yet, -1 several
};

}  // namespace semfield
