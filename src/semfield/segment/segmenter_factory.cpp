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
  const SemanticSource& source = *field.model;
  if (source.has_classes()) {
    if (method == "similarity")
      fail_usage("field '{}' holds labels ({}): the similarity method needs a feature field", field.name,
                 field.teacher.to_string());
    return std::make_unique<LabelSegmenter>(source);
  }
  if (method == "auto" && field.teacher.kind == TeacherKind::Sam) {
    auto sam = std::make_shared<const foundation::SamModel>(foundation::SamModel::load(field.teacher.arg));
    return std::make_unique<SamSegmenter>(source, std::move(sam));
  }
  return std::make_unique<SimilaritySegmenter>(source);
}

}  // namespace semfield
