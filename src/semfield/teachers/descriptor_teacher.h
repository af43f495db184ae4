// The `descriptor` teacher: a weight-free dense descriptor of colour and texture at several scales, so RGB-only
// scenes can be distilled and segmented without any model download.
#pragma once

#include <memory>
#include <string>

#include "semfield/teachers/teacher.h"

namespace semfield {

/// What it computes, per pixel of an RGB image (exactly; docs/teachers.md has the rationale). Let
/// u = max(H, W) / 256 pixels (scales follow the image size, so the descriptor of a view does not depend on its
/// resolution), Lab = CIELAB of the sRGB input (D65) divided by 100, G_s = Gaussian blur of standard
/// deviation s*u pixels (reflect padding):
///   channels  0- 2  G_0.5(Lab)
///   channels  3-14  G_s(Lab) for s = 2, 4, 8, 16
///   channels 15-20  local standard deviation of Lab, sqrt(G_s(Lab^2) - G_s(Lab)^2), for s = 4, 12
///   channels 21-23  gradient magnitude of G_s(L) times s*u (scale-normalised), for s = 1, 2, 4
/// The 24 channels are averaged over 2x2 pixel blocks: the map is [24, ceil(H/2), ceil(W/2)] (edge blocks
/// average what they cover).
class DescriptorTeacher final : public Teacher {
 public:
  static constexpr int64_t kChannels = 24;

  std::string spec() const override { return TeacherSpec{TeacherKind::Descriptor, ""}.to_string(); }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return {kChannels}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const override;
  bool runs_on_images() const override { return true; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;
};

/// CIELAB (D65) of sRGB values in [0,1], [..., 3] -> [..., 3] with L in [0,100].
at::Tensor srgb_to_lab(const at::Tensor& rgb);

}  // namespace semfield
