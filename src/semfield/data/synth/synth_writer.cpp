// Renders every view of a synthetic scene and writes images, ground truth, transforms and labels.
#include "semfield/data/synth/synth_writer.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_vec.h"
#include "semfield/core/progress.h"
#include "semfield/data/synth/ray_tracer.h"
#include "semfield/data/synth/synth_files.h"
#include "semfield/io/image.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

void write_json(const fs::path& path, const nlohmann::json& doc) { synth::write_json_file(path, doc); }

nlohmann::json labels_json(const SynthScene& scene) {
  nlohmann::json classes = nlohmann::json::array();
  const auto names = synth_class_names(scene.config.novel_shapes);
  for (size_t id = 0; id < names.size(); ++id) classes.push_back({{"id", id}, {"name", names[id]}});
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& object : scene.objects)
    instances.push_back({{"id", object.instance_id},
                         {"name", object.name},
                         {"class", object.class_name},
                         {"class_id", object.class_id},
                         {"bbox_min", vec_json(object.bbox.min())},
                         {"bbox_max", vec_json(object.bbox.max())}});
  return {{"classes", classes}, {"instances", instances}};
}

}  // namespace

SynthSummary write_synth_scene(const SynthConfig& config, const fs::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  const SynthScene scene = make_synth_scene(config);
  const synth::RayTracer tracer(scene);
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw InputError(dir, "", "cannot create the output folder: " + error.message());
  write_json(dir / "scene.json", synth_scene_to_json(scene));
  write_json(dir / "labels.json", labels_json(scene));

  const int n_views = static_cast<int>(scene.train_cameras.size() + scene.test_cameras.size());
  const fs::path name = dir.filename().empty() ? dir.parent_path().filename() : dir.filename();  // "out/"
  ProgressBar progress(fmt::format("synth {}", name.string()), n_views, "view");
  int done = 0;
  for (const char* split : {"train", "test"}) {
    const auto& cameras = std::string(split) == "train" ? scene.train_cameras : scene.test_cameras;
    nlohmann::json transforms = synth::transforms_header(scene.fov_x, cameras.front().intrinsics);
    nlohmann::json frames = nlohmann::json::array();
    // Test images are numbered after the training ones (as in the lego_200 release), so every image
    // stem is unique and names a view on its own ("r_12").
    const size_t first_index = std::string(split) == "train" ? 0 : scene.train_cameras.size();
    for (size_t i = 0; i < cameras.size(); ++i) {
      const std::string stem = fmt::format("{}/r_{}", split, first_index + i);
      frames.push_back(synth::write_view_files(dir, stem, tracer.render(cameras[i]), cameras[i]));
      progress.update(++done);
    }
    transforms["frames"] = frames;
    write_json(dir / fmt::format("transforms_{}.json", split), transforms);
  }
  progress.finish();

  SynthSummary summary;
  summary.dir = dir;
  summary.seed = config.seed;
  summary.n_objects = static_cast<int>(scene.objects.size()) - 1;
  summary.n_train = static_cast<int>(scene.train_cameras.size());
  summary.n_test = static_cast<int>(scene.test_cameras.size());
  summary.resolution = config.resolution;
  summary.height = config.height > 0 ? config.height : config.resolution;
  for (size_t k = 1; k < scene.objects.size(); ++k) summary.object_names.push_back(scene.objects[k].name);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

std::vector<SynthSummary> write_synth_dataset(const SynthConfig& config, const fs::path& out,
                                              const std::function<void(const SynthSummary&)>& on_scene) {
  config.validate();
  std::vector<SynthSummary> summaries;
  for (int k = 0; k < config.n_scenes; ++k) {
    SynthConfig scene_config = config;
    scene_config.seed = config.seed + static_cast<uint64_t>(k);
    scene_config.n_scenes = 1;
    const fs::path dir = config.n_scenes == 1 ? out : out / fmt::format("scene_{:03d}", k);
    summaries.push_back(write_synth_scene(scene_config, dir));
    if (on_scene) on_scene(summaries.back());
  }
  return summaries;
}

}  // namespace semfield
