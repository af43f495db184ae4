// Class-of-the-click segmentation for label fields.
#include "semfield/segment/label_segmenter.h"

#include <map>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/segment/similarity_segmenter.h"

namespace semfield {

namespace {

at::Tensor ids_of(const SegmentView& view) { return view.maps[0].to(at::kLong); }

}  // namespace

std::set<int64_t> prompted_classes(const at::Tensor& ids, const at::Tensor& opacity, const Prompts& prompts,
                                   double min_opacity) {
  const int h = static_cast<int>(ids.size(0)), w = static_cast<int>(ids.size(1));
  const auto id = ids.accessor<int64_t, 2>();
  const at::Tensor alpha = opacity.to(at::kFloat).contiguous();
  const auto a = alpha.accessor<float, 2>();
  std::set<int64_t> classes;
  for (const Eigen::Vector2d& click : prompts.positive) {
    const Eigen::Vector2i p = click_pixel(click, w, h);
    // The background latent gives empty space a class too; a click there is not on an object.
    if (a[p.y()][p.x()] >= min_opacity) classes.insert(id[p.y()][p.x()]);
  }
  if (prompts.positive.empty() && prompts.box) {
    const at::Tensor inside = box_mask(*prompts.box, w, h) & (opacity >= min_opacity);
    const at::Tensor in_box = ids.index({inside});
    if (in_box.numel() > 0) {
      const at::Tensor counts = at::bincount(in_box);
      classes.insert(counts.argmax().item<int64_t>());
    }
  }
  for (const Eigen::Vector2d& click : prompts.negative) {
    const Eigen::Vector2i p = click_pixel(click, w, h);
    classes.erase(id[p.y()][p.x()]);
  }
  return classes;
}

at::Tensor class_mask(const at::Tensor& ids, const std::set<int64_t>& classes) {
  at::Tensor mask = at::zeros(ids.sizes(), at::kBool);
  for (const int64_t c : classes) mask |= ids == c;
  return mask;
}

LabelSegmenter::LabelSegmenter(const SemanticSource& source) : m_source(source) {
  if (!source.has_classes()) fail_usage("the label-class segmenter needs a label field");
}

SegmentView LabelSegmenter::prepare(const Camera& camera, const std::string& name) const {
  SegmentView view = render_field_view(m_source, camera, name, 0);
  view.maps = view.maps.argmax(0, true).to(at::kFloat);
  return view;
}

at::Tensor LabelSegmenter::segment(const SegmentView& view, const Prompts& prompts) {
  const at::Tensor ids = ids_of(view);
  m_classes = prompted_classes(ids, view.opacity, prompts);
  at::Tensor mask = class_mask(ids, m_classes);
  if (prompts.box) mask &= box_mask(*prompts.box, view.width(), view.height());
  return mask;
}

at::Tensor LabelSegmenter::follow(const SegmentView& view, const Prompts& /*prompts*/, const at::Tensor& /*seed*/) const {
  return class_mask(ids_of(view), m_classes);
}

}  // namespace semfield
