// Where GP-NeRF's generalized mIoU is lost (issue 26): the perception head decodes a novel view's *rendered* semantic
// map; in training it decodes mostly S_novel, the extractor's map of the target image itself. This probe scores the
// head on S_novel of each test view's own image — the 2D segmenter inside GP-NeRF, no rendering — so that
//   rendered-map mIoU (semfield apply + eval --gt semantic)  vs  S_novel mIoU (this probe)
// separates what the 3D aggregation loses from what the 2D segmenter (extractor + head) cannot tell at all.
//
//   gpnerf_head_probe MODEL SCENE...     (MODEL: a gp-nerf .safetensors file; SCENE: generated scene folders)
// Prints per scene the mIoU / accuracy over the test views (LabelScores, as eval: classes matched by name, the
// classes the truth has), then their mean and the per-class IoU pooled over all scenes' pixels. Reference views are not
// read: only the test views' images (RGBA over white, the trainer's default background) and semantic maps. Figures:
// BENCHMARKS.md ("GP-NeRF on unseen scenes", 2026-11-27 third session).
#include <cstdio>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/error.h"
#include "semfield/data/scene.h"
#include "semfield/io/image_torch.h"
#include "semfield/models/gpnerf/gpnerf_model.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/model_file.h"
#include "semfield/pipeline/feature_evaluator.h"

int main(int argc, char** argv) {
  using namespace semfield;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL SCENE...\n", argv[0]);
    return 2;
  }
  try {
    at::set_num_threads(2);
    const ModelFile file = read_model_file(argv[1]);
    if (file.type != "gp-nerf") fail_usage("{} is a {} model, not gp-nerf", argv[1], file.type);
    const GpnerfConfig config = gpnerf_config_from_json(file.config, file.path.string());
    GpnerfNetwork net(config);
    net.load_state(file.weights, file.path.string());
    const int64_t k = net.classes();
    LabelScores all(k);
    double sum = 0;
    int scenes = 0;
    at::NoGradGuard no_grad;
    for (int a = 2; a < argc; ++a) {
      const Scene scene = load_scene(argv[a]);
      std::vector<std::string> names;
      for (const auto& [id, label] : scene.semantic_labels) {
        if (id < 0 || id > 65535) continue;
        if (names.size() <= static_cast<size_t>(id)) names.resize(static_cast<size_t>(id) + 1);
        names[static_cast<size_t>(id)] = label.name;
      }
      LabelScores scores(k);
      for (const View* view : scene.split(Split::Test)) {
        if (!view->semantic) fail_input(view->image_path, "", "the view has no semantic map");
        const at::Tensor image = view_colours(*view, Eigen::Vector3f::Ones());  // [3,H,W]
        const at::Tensor logits = net.decode_view(net.novel_semantics(image.unsqueeze(0)));  // as inference
        const at::Tensor predicted = logits.squeeze(0).argmax(0);
        const at::Tensor truth =
            model_class_ids(image_to_tensor(*view->semantic).squeeze(-1).round().to(at::kLong), names, config.classes);
        scores.add(predicted, truth);
        all.add(predicted, truth);
      }
      const double m = scores.miou().value_or(0);
      sum += m;
      ++scenes;
      std::printf("%s  S_novel mIoU %.4f  accuracy %.4f\n", argv[a], m, scores.accuracy().value_or(0));
      std::fflush(stdout);
    }
    std::printf("mean of %d scenes: S_novel mIoU %.4f\nper class (all scenes):", scenes, sum / scenes);
    for (const auto& c : all.per_class())
      std::printf(" %s %.3f", config.classes[static_cast<size_t>(c.id)].c_str(), c.iou);
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
