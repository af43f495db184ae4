// Picks the segmentation method for a distilled field or a run model's own semantics (segmenter.h).
#include <memory>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/label_segmenter.h"
#include "semfield/segment/sam_segmenter.h"
#include "semfield/segment/segmenter.h"
#include "semfield/segment/similarity_segmenter.h"

namespace semfield {

namespace {

void check_method(const std::string& method) {
  if (method != "auto" && method != "similarity" && method != "class" && method != "instance")
    fail_usage("unknown segmentation method '{}' (expected auto, similarity, class or instance)", method);
}

}  // namespace

std::unique_ptr<Segmenter> make_segmenter(const SemanticSource& source, const std::string& name,
                                          const std::string& method) {
  check_method(method);
  if (method == "instance" && !source.has_instances())
    fail_usage("{} has no instance head: the instance method needs one (fine-tune one on the scene: apply "
               "--finetune-steps K --finetune-config '{{\"instance_slots\": 16}}')", name);
  if (source.has_classes()) {
    if (method == "similarity")
      fail_usage("{} holds labels: the similarity method needs features", name);
    return std::make_unique<LabelSegmenter>(source, method != "class");
  }
  if (method == "class") fail_usage("{} holds features: the class method needs labels", name);
  return std::make_unique<SimilaritySegmenter>(source);
}

std::unique_ptr<Segmenter> make_segmenter(const LoadedDistill& field, const std::string& method) {
  check_method(method);
  if (method == "instance")
    fail_usage("field '{}' ({}): the instance method needs a model's instance head", field.name,
               field.teacher.to_string());
  if (method == "auto" && field.teacher.kind == TeacherKind::Sam && !field.model->has_classes()) {
    auto sam = std::make_shared<const foundation::SamModel>(foundation::SamModel::load(field.teacher.arg));
    return std::make_unique<SamSegmenter>(*field.model, std::move(sam));
  }
  return make_segmenter(*field.model, fmt::format("field '{}' ({})", field.name, field.teacher.to_string()), method);
}

std::unique_ptr<Segmenter> make_segmenter(const RunSemantics& semantics, const std::string& method) {
  if (semantics.field) return make_segmenter(*semantics.field, method);
  SEMFIELD_ASSERT(semantics.source != nullptr, "run semantics without a source");
  return make_segmenter(*semantics.source, model_semantics_description(semantics.source->scene_model().type()),
                        method);
}

std::string segment_method_for(const LoadedRun& run, const std::string& semantics_name, const std::string& method) {
  check_method(method);
  if (method != "auto" || semantics_name != kModelSemantics || !run.applied || !run.applied->instance_head)
    return method;
  const InstanceHeadCheck& check = *run.applied->instance_head;
  if (check.ap75 >= kInstanceHeadMinAp) return method;
  log::warn("this run's instance head scored AP@0.75 {:.3f} on {} {} views at apply time (< {}): clicks select "
            "classes (--method instance selects instances anyway)",
            check.ap75, check.views, check.split, kInstanceHeadMinAp);
  return "class";
}

}  // namespace semfield
