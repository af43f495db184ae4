// Class-of-the-click (instance-of-the-click) segmentation for label fields and sources with classes.
#include "semfield/segment/label_segmenter.h"

#include <map>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/segment/similarity_segmenter.h"

namespace semfield {

namespace {

// Instance slots per class in the combined ids below (slots < 256: gp-nerf's config bound).
constexpr int64_t kSlotsPerClass = 256;

// The ids a click selects among: the classes, or, where prepare rendered instance slots (channel 1), the pair (class,
// slot) as class * 256 + slot — a selected instance is its slot's pixels *of the clicked class*, so a head that has
// not learnt to tell objects apart (one slot over the ground and every object) selects no more than the class.
at::Tensor ids_of(const SegmentView& view) {
  const at::Tensor classes = view.maps[0].to(at::kLong);
  return view.maps.size(0) == 1 ? classes : classes * kSlotsPerClass + view.maps[1].to(at::kLong);
}

// "c/s c/s": the (class, slot) pairs of combined ids, for the debug log.
std::string pairs_text(const std::set<int64_t>& ids) {
  std::string text;
  for (const int64_t id : ids) text += fmt::format(" {}/{}", id / kSlotsPerClass, id % kSlotsPerClass);
  return text;
}

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

LabelSegmenter::LabelSegmenter(const SemanticSource& source, bool instances)
    : m_source(source), m_instances(instances && source.has_instances()) {
  if (!source.has_classes()) fail_usage("the label-class segmenter needs a label field");
}

SegmentView LabelSegmenter::prepare(const Camera& camera, const std::string& name) const {
  SemanticRenderOutput out;
  SegmentView view = render_field_view(m_source, camera, name, 0, &out);
  view.maps = view.maps.argmax(0, true).to(at::kFloat);
  if (m_instances) {
    SEMFIELD_ASSERT(out.instances.defined(), "a source with instances rendered a view without instance logits");
    const at::Tensor slots = out.instances.argmax(1).to(at::kFloat).view({1, view.height(), view.width()});
    view.maps = at::cat({view.maps, slots}, 0);
  }
  return view;
}

at::Tensor LabelSegmenter::segment(const SegmentView& view, const Prompts& prompts) {
  const at::Tensor ids = ids_of(view);
  m_selected = prompted_classes(ids, view.opacity, prompts);
  if (m_instances && spdlog::should_log(spdlog::level::debug))
    log::debug("label-instance in {}: class/slot{}", view.name, pairs_text(m_selected));
  at::Tensor mask = class_mask(ids, m_selected);
  if (prompts.box) mask &= box_mask(*prompts.box, view.width(), view.height());
  return mask;
}

at::Tensor LabelSegmenter::follow(const SegmentView& view, const Prompts& prompts, const at::Tensor& seed) const {
  const at::Tensor ids = ids_of(view);
  if (!m_instances || m_selected.empty()) return class_mask(ids, m_selected);
  // A fine-tuned head gives an object one slot in every view (its rendered features are the same object's), so the
  // remembered (class, slot) pairs come first: GP-NeRF's depth, which lifts clicks and selections to 3D, is less
  // reliable than its slots. Where they are absent (the object hidden, or a head whose slots differ between views):
  // the pairs under the re-projected clicks, else the pair covering most of the 3D selection's opaque pixels, of the
  // selected classes only (classes agree across views; a click or selection spilling onto the ground does not select
  // the ground).
  const at::Tensor opaque = view.opacity >= 0.5;
  const at::Tensor remembered = class_mask(ids, m_selected);
  std::set<int64_t> pairs;
  const char* how = "remembered slots";
  if (!(remembered & opaque).any().item<bool>()) {
    std::set<int64_t> classes;
    for (const int64_t id : m_selected) classes.insert(id / kSlotsPerClass);
    Prompts clicks = prompts;
    clicks.box.reset();
    for (const int64_t id : prompted_classes(ids, view.opacity, clicks))
      if (classes.count(id / kSlotsPerClass) != 0) pairs.insert(id);
    if (!pairs.empty()) {
      how = "re-projected clicks";
    } else if (seed.defined()) {
      const at::Tensor of_classes = class_mask(ids.div(kSlotsPerClass, "floor"), classes) & opaque;
      const at::Tensor under = ids.index({seed.to(at::kBool) & of_classes});
      if (under.numel() > 0) {
        pairs.insert(at::bincount(under).argmax().item<int64_t>());
        how = "3D selection";
      }
    }
  }
  if (spdlog::should_log(spdlog::level::debug))
    log::debug("label-instance follow into {}: class/slot{} from the {}", view.name,
               pairs_text(pairs.empty() ? m_selected : pairs), how);
  return pairs.empty() ? remembered : class_mask(ids, pairs);
}

}  // namespace semfield
