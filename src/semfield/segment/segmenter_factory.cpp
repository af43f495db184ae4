// Picks the segmentation method for a distilled field (segmenter.h).
#include <memory>

#include "semfield/core/error.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/segment/label_segmenter.h"
#include "semfield/segment/sam_segmenter.h"
#include "semfield/segment/segmenter.h"
#include "semfield/segment/similarity_segmenter.h"

namespace semfield {

std::unique_ptr<Segmenter> make_segmenter(const LoadedDistill& field, const std::string& method) {
  if (method != "auto" && method != "similarity")
    fail_usage("unknown segmentation method '{}' (expected auto or similarity)", method);
  const FeatureModel& model = *field.model;
  const std::string& spec = field.config.teacher;
  if (model.kind() == TeacherOutputKind::Labels) {
    if (method == "similarity")
      fail_usage("field '{}' holds labels ({}): the similarity method needs a feature field", field.name, spec);
    return std::make_unique<LabelSegmenter>(model);
  }
  if (method == "auto" && spec.rfind("sam:", 0) == 0) {
    auto sam = std::make_shared<const foundation::SamModel>(foundation::SamModel::load(spec.substr(4)));
    return std::make_unique<SamSegmenter>(model, std::move(sam));
  }
  return std::make_unique<SimilaritySegmenter>(model);
}

}  // namespace semfield
