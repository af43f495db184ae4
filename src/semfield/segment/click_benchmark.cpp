// One-click-per-object segmentation scored against ground-truth instance masks.
#include "semfield/segment/click_benchmark.h"

#include <chrono>
#include <set>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/segment/mask_metrics.h"

namespace semfield {

at::Tensor instance_mask(const View& view, int64_t instance) {
  if (!view.instance) fail_usage("view {} has no instance map", view.name);
  const Image& ids = *view.instance;
  at::Tensor mask = at::zeros({ids.height, ids.width}, at::kBool);
  bool* m = mask.data_ptr<bool>();
  for (size_t i = 0; i < static_cast<size_t>(ids.width) * ids.height; ++i)
    m[i] = static_cast<int64_t>(ids.pixels[i * ids.channels]) == instance;
  return mask;
}

std::vector<int64_t> object_instances(const Scene& scene) {
  std::set<int64_t> ids;
  for (const View& view : scene.views) {
    if (!view.instance) continue;
    for (size_t i = 0; i < view.instance->pixels.size(); i += view.instance->channels)
      if (view.instance->pixels[i] >= 2) ids.insert(static_cast<int64_t>(view.instance->pixels[i]));
  }
  return {ids.begin(), ids.end()};
}

ObjectClick object_click(const Scene& scene, int64_t instance) {
  ObjectClick out;
  int64_t most = 0;
  for (const View* view : scene.split(Split::Train)) {
    const int64_t count = instance_mask(*view, instance).sum().item<int64_t>();
    if (count > most) most = count, out.view = view;
  }
  if (!out.view) fail_usage("instance {} is in no training view", instance);
  out.click = *interior_point(instance_mask(*out.view, instance));
  return out;
}

ObjectClickResult segment_object_by_click(Segmenter& segmenter, const SceneModel& radiance, const Scene& scene,
                                          int64_t instance, const SessionOptions& options) {
  const ObjectClick chosen = object_click(scene, instance);
  const View* prompted = chosen.view;
  ObjectClickResult result{instance, prompted->name, chosen.click, 0, {}, {}, {}, 0, 0, empty_selection(radiance, 1)};
  const at::Tensor truth = instance_mask(*prompted, instance);

  SegmentSession session(segmenter, radiance, options);
  Prompts prompts;
  prompts.positive = {result.click};
  const SegmentView view = segmenter.prepare(prompted->camera, prompted->name);
  const auto start = std::chrono::steady_clock::now();
  const at::Tensor mask = session.prompt(view, prompts);
  result.click_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  result.prompted_iou = mask_iou(mask, truth);
  result.prompted_mask = mask;
  double sum = 0;
  for (const View* test : scene.split(Split::Test)) {
    const at::Tensor followed = session.follow(segmenter.prepare(test->camera, test->name));
    const double iou = mask_iou(followed, instance_mask(*test, instance));
    result.view_iou.emplace_back(test->name, iou);
    result.view_masks.push_back(followed);
    sum += iou;
  }
  result.mean_iou = result.view_iou.empty() ? 0 : sum / static_cast<double>(result.view_iou.size());
  result.selection = session.selection();
  return result;
}

}  // namespace semfield
