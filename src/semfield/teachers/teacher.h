// A 2D teacher: what a radiance field learns to render. Maps one image of a scene to dense feature maps
// (one per scale) or to per-class label probabilities.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "semfield/data/scene.h"
#include "semfield/teachers/teacher_spec.h"

namespace semfield {

/// What a teacher produces.
enum class TeacherOutputKind {
  Features,  ///< real-valued feature maps, one per scale, learned with an MSE (+ correlation) loss
  Labels,    ///< one map of per-class probabilities [K,h,w], learned with cross-entropy
};

/// One image given to a teacher.
struct TeacherInput {
  /// RGB image [H,W,3] float32 in [0,1], already composited over the training background.
  at::Tensor rgb;
  /// The dataset view the image is (nullptr for a novel, rendered view - camera augmentation).
  /// Teachers reading precomputed maps match on view->name and view->*_path.
  const View* view = nullptr;
};

/// Map geometry contract: map s of an H x W image has shape [C_s, h_s, w_s] and covers the image rectangle
/// exactly; cell (i, j) is centred at pixel coordinates ((j + 0.5) * W / w_s, (i + 0.5) * H / h_s). A teacher
/// whose network pads the image (SAM pads to a square) crops its maps back to the image's region.
///
/// Labels: a single map [K,h,w] of class probabilities; a pixel without a label (void / unknown) has all
/// K entries 0 and is ignored by the loss. Integer label maps become one-hot rows.
class Teacher {
 public:
  virtual ~Teacher() = default;

  /// The spec it was made from, e.g. "labels:semantic", "descriptor", "sam:weights/sam_vit_b.pth".
  virtual std::string spec() const = 0;
  virtual TeacherOutputKind output_kind() const = 0;
  /// Channels of each scale's map (Labels: one entry, the class count K).
  virtual std::vector<int64_t> channels() const = 0;
  /// Map size (h, w) of each scale for an image of the given size.
  virtual std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t image_height, int64_t image_width) const = 0;
  /// Whether the teacher can run on novel rendered images (input.view == nullptr); precomputed-map and
  /// dataset-label teachers cannot, so camera augmentation is unavailable with them.
  virtual bool runs_on_images() const = 0;
  /// Whether compute() has maps for this dataset view (precomputed teachers may lack held-out views).
  virtual bool covers(const View& /*view*/) const { return true; }
  /// Maps for one image, in the layout above (float32, CPU). Throws InputError naming the file/field for
  /// missing or mis-shaped precomputed data.
  virtual std::vector<at::Tensor> compute(const TeacherInput& input) const = 0;
};

/// Degradations of label teachers, applied to *training* views only (held-out views stay clean for
/// evaluation): the sparse- and noisy-label studies of Semantic-NeRF.
struct LabelDegradation {
  double noise_fraction = 0;  ///< fraction of labelled pixels replaced by a uniformly random other class (of those present)
  double keep_fraction = 1;   ///< fraction of labelled pixels kept (the rest become unlabelled)
  uint64_t seed = 0;
};

/// Builds a teacher from its spec for the given scene (specs are listed in docs/teachers.md):
///   files:DIR               precomputed maps DIR/<image stem>.npy or .safetensors
///   labels:semantic | labels:instance | labels:DIR
///   descriptor              the built-in weight-free dense descriptor
///   sam:PATH | clip:PATH | dino:PATH   foundation-model teachers (checkpoint file or folder)
std::unique_ptr<Teacher> make_teacher(const TeacherSpec& spec, const Scene& scene,
                                      const LabelDegradation& label_degradation = {});
/// The same for a spec's text: UsageError from TeacherSpec::parse for a malformed one (an unknown kind lists the
/// valid ones).
std::unique_ptr<Teacher> make_teacher(const std::string& spec, const Scene& scene,
                                      const LabelDegradation& label_degradation = {});
/// A foundation-model teacher (spec.is_foundation_model(): sam, clip, dino), which needs no scene: loads its
/// weights from spec.arg (InputError on failure). UsageError for any other kind.
std::unique_ptr<Teacher> make_foundation_teacher(const TeacherSpec& spec);

}  // namespace semfield
