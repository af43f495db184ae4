// Click/box segmentation of rendered views: the interface shared by the SAM-decoder, label-class and
// feature-similarity methods, and the choice of method for a distilled field.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "semfield/segment/prompts.h"
#include "semfield/segment/segment_view.h"

namespace semfield {

struct LoadedDistill;
struct RunSemantics;
class SemanticSource;

/// A segmenter renders each view once (prepare), turns prompts on a view into a mask (segment), and remembers
/// what it needs to find the same object again in other views (follow). Masks are bool [H,W] at the view's
/// image resolution. Not thread-safe (segment() updates the remembered object).
class Segmenter {
 public:
  virtual ~Segmenter() = default;

  /// "sam-decoder", "label-class", "label-instance" or "feature-similarity".
  virtual std::string method() const = 0;
  /// Renders what the method reads for a camera view, plus its depth and opacity.
  virtual SegmentView prepare(const Camera& camera, const std::string& name) const = 0;
  /// Mask for prompts on a prepared view (the caller has checked them with check_prompts); the object it
  /// describes becomes the one follow() looks for.
  virtual at::Tensor segment(const SegmentView& view, const Prompts& prompts) = 0;
  /// Mask of the remembered object in another prepared view. `prompts` holds the first view's clicks
  /// re-projected into this one (only the visible ones; possibly none); `seed`, bool [H,W] or undefined, marks
  /// pixels where the 3D selection so far renders. Returns an all-false mask when the object is not found.
  virtual at::Tensor follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const = 0;
};

/// The method for a field: label fields -> label-class; `sam:` fields -> sam-decoder (loads SAM's prompt encoder
/// and mask decoder from the teacher's weights; InputError if they are gone); every other feature field ->
/// feature-similarity. `method` may force "similarity" (any feature field, including SAM's) or be "auto".
/// UsageError for an unknown method or one the field cannot run.
std::unique_ptr<Segmenter> make_segmenter(const LoadedDistill& field, const std::string& method = "auto");
/// The method for a source without a teacher of its own, such as a run model's own semantics (GP-NeRF's classes,
/// FeatureNeRF's descriptors): label-class with classes (label-instance with instances of its own: GP-NeRF's instance
/// head; `method` "class" keeps label-class, "instance" requires the head), else feature-similarity. `name` names it
/// in errors.
std::unique_ptr<Segmenter> make_segmenter(const SemanticSource& source, const std::string& name,
                                          const std::string& method = "auto");
/// The method for a run's semantics (field_choice.h load_semantics): its distilled field's, or its model's own.
std::unique_ptr<Segmenter> make_segmenter(const RunSemantics& semantics, const std::string& method = "auto");

struct LoadedRun;
/// The method a run's clicks use for its semantics named `semantics_name` (kModelSemantics: the model's own): `method`
/// as asked, except "auto" on a run whose instance head apply measured below kInstanceHeadMinAp (run_folder.h
/// InstanceHeadCheck): "class", with a warning saying so once per call — such a head (one slot over several objects)
/// selects less than the clicked object's class would. UsageError for an unknown method.
std::string segment_method_for(const LoadedRun& run, const std::string& semantics_name, const std::string& method);

}  // namespace semfield
