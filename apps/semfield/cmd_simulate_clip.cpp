// `semfield simulate-clip`: a measuring instrument for open-vocabulary segmentation where no CLIP weights exist
// here — dense CLIP-like token maps built from a scene's ground-truth class maps with CLIP's known defects
// (teachers/simulated_clip.h), written in the form a real teacher's precomputed output takes (`files:DIR`), with
// the matching text embeddings of the scene's class list.
#include <cstdio>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/progress.h"
#include "semfield/data/scene.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/class_map_eval.h"
#include "semfield/segment/text_query.h"
#include "semfield/teachers/simulated_clip.h"
#include "semfield/teachers/simulated_dino.h"
#include "semfield/teachers/simulated_segmenter.h"

namespace semfield::cli {

namespace {

struct SimulateClipArgs {
  std::string data, out;
  uint64_t seed = 0;
  double noise = -1;
};

at::Tensor sc_semantic_tensor(const Image& image) {
  const LabelMap m = label_map_from_image(image);
  return at::tensor(m.ids, at::kInt).view({m.height, m.width}).to(at::kLong);
}

void run_simulate_clip(const SimulateClipArgs& args) {
  const Scene scene = load_scene(args.data);
  // The class list: every class id >= 1 seen in a semantic map, in id order, named by labels.json.
  std::set<int64_t> ids;
  std::vector<std::pair<const View*, at::Tensor>> maps;
  for (const View& v : scene.views) {
    if (!v.semantic) continue;
    at::Tensor m = sc_semantic_tensor(*v.semantic);
    const at::Tensor u = std::get<0>(at::_unique(m));
    for (int64_t i = 0; i < u.numel(); ++i)
      if (u[i].item<int64_t>() > 0) ids.insert(u[i].item<int64_t>());
    maps.emplace_back(&v, std::move(m));
  }
  if (maps.empty()) fail_input(args.data, "", "no view has a semantic map (semantic_path) to build the teacher from");
  if (ids.empty()) fail_input(args.data, "", "the semantic maps hold no class (every pixel is 0)");
  std::vector<std::string> names;
  std::map<int64_t, int64_t> index;  // scene class id -> 1-based index in the class list
  std::vector<int64_t> class_ids;
  for (int64_t id : ids) {
    const auto it = scene.semantic_labels.find(static_cast<int>(id));
    names.push_back(it != scene.semantic_labels.end() && !it->second.name.empty() ? it->second.name
                                                                                  : fmt::format("class_{}", id));
    index[id] = static_cast<int64_t>(names.size());
    class_ids.push_back(id);
  }
  SimulatedClipOptions options;
  options.seed ^= args.seed;
  if (args.noise >= 0) options.noise = args.noise;
  const at::Tensor text = simulated_clip_text_embeddings(names, options);
  const std::filesystem::path out(args.out);
  std::filesystem::create_directories(out);
  write_npy(out / "text_embeddings.npy", tensor_to_array(text));

  // Lookup table scene id -> list index (ids beyond the table are 0).
  const int64_t max_id = *ids.rbegin();
  at::Tensor lut = at::zeros({max_id + 1}, at::kLong);
  for (const auto& [id, k] : index) lut[id] = k;
  const uint64_t scene_key = simulated_teacher_key(scene.root.filename().string()) ^ args.seed;
  std::map<Split, std::pair<ClassMapScorer, ClassMapScorer>> scores;
  ProgressBar bar("simulate-clip", static_cast<int64_t>(maps.size()), "view");
  int64_t done = 0;
  for (const auto& [view, ids_map] : maps) {
    const at::Tensor labels = lut.index_select(0, ids_map.clamp(0, max_id).reshape(-1)).view(ids_map.sizes());
    const at::Tensor tokens = simulated_clip_map(labels, names, scene_key, simulated_teacher_key(view->name), options);
    write_npy(out / (view->name + ".npy"), tensor_to_array(tokens));
    // The raw teacher's own class map: cosines upsampled to the image, arg-max over the plain class list.
    const int64_t h = labels.size(0), w = labels.size(1);
    const at::Tensor n = tokens / tokens.norm(2, 0, true).clamp_min(1e-8f);
    const at::Tensor cos = at::einsum("kd,dhw->khw", {text, n});
    const at::Tensor up = at::upsample_bilinear2d(cos.unsqueeze(0), {h, w}, false).squeeze(0);
    auto it = scores.try_emplace(view->split, ClassMapScorer(static_cast<int64_t>(names.size())),
                                 ClassMapScorer(static_cast<int64_t>(names.size()))).first;
    it->second.first.add(up.argmax(0) + 1, labels);
    it->second.second.add(standardise_rows(up.reshape({up.size(0), -1})).argmax(0).view({h, w}) + 1, labels);
    bar.update(++done);
  }
  bar.finish();
  nlohmann::json report = {
      {"instrument", "semfield simulated open-vocabulary (CLIP-like) teacher: ground-truth class maps with CLIP's "
                     "dense-feature defects (docs/teachers.md); not a model"},
      {"data", args.data}, {"seed", args.seed}, {"classes", names}, {"class_ids", class_ids},
      {"dim", options.dim}, {"grid", options.grid}, {"noise", options.noise}, {"views", maps.size()}};
  for (auto& [split, s] : scores) {
    const ClassMapScore plain = s.first.result(), standard = s.second.result();
    report[std::string("teacher_miou_") + split_name(split)] = plain.miou;
    report[std::string("teacher_standardised_miou_") + split_name(split)] = standard.miou;
    std::printf("%s: raw teacher per-pixel arg-max mIoU %.3f (accuracy %.3f), standardised %.3f\n", split_name(split),
                plain.miou, plain.accuracy, standard.miou);
  }
  write_file_atomic(out / "classes.json", nlohmann::json({{"classes", names}, {"class_ids", class_ids}}).dump(2) + "\n");
  write_file_atomic(out / "simulated_clip.json", report.dump(2) + "\n");
  std::printf("simulated CLIP teacher -> %s (%zu maps [%lld x grid], %zu classes; distill with --teacher files:%s "
              "--laser on)\n",
              args.out.c_str(), maps.size(), static_cast<long long>(options.dim), names.size(), args.out.c_str());
}

}  // namespace

void add_simulate_clip_command(CLI::App& app) {
  auto args = std::make_shared<SimulateClipArgs>();
  CLI::App* cmd = app.add_subcommand(
      "simulate-clip",
      "A measuring instrument: CLIP-like dense token maps with CLIP's defects from a scene's class maps, as files:DIR");
  cmd->add_option("--data", args->data, "Scene folder with semantic maps and labels.json")->required();
  cmd->add_option("--out", args->out,
                  "Folder for <view>.npy [512,h,w], text_embeddings.npy [K,512], classes.json, simulated_clip.json")
      ->required();
  cmd->add_option("--seed", args->seed, "Seed of the instrument's draws")->capture_default_str();
  cmd->add_option("--noise", args->noise, "Per-token noise (default 0.45)")->check(CLI::Range(0.0, 10.0));
  cmd->callback([args] { run_simulate_clip(*args); });
}

}  // namespace semfield::cli
