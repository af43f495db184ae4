// Writes category datasets: per instance a NeRF-synthetic folder with part maps, keypoints and surface samples.
#include "semfield/data/synth/object_dataset.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "semfield/core/json_vec.h"
#include "semfield/core/progress.h"
#include "semfield/data/synth/synth_files.h"
#include "semfield/io/npy.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

Camera objds_camera(double azimuth, double elevation, int resolution) {
  const Eigen::Vector3d origin = Eigen::Vector3d::Zero();
  return synth::look_at_camera(synth::orbit_point(origin, kObjectCameraRadius, azimuth, elevation), origin, resolution,
                               kObjectFovDegrees * kDegree);
}

// The dataset's cameras, from config.seed only.
void objds_cameras(const ObjectDatasetConfig& config, SynthScene* scene) {
  synth::SynthRng rng(splitmix64_finalize(config.seed ^ 0xCA3E2A5C0FFEE123ULL));
  const double golden_angle = kPi * (3.0 - std::sqrt(5.0));
  const double azimuth0 = rng.uniform(0, 2 * kPi);
  const double sin_lo = std::sin(kObjectTrainElevationMin * kDegree), sin_hi = std::sin(kObjectTrainElevationMax * kDegree);
  for (int i = 0; i < config.n_views; ++i) {
    const double t = (i + 0.5) / config.n_views;
    scene->train_cameras.push_back(
        objds_camera(azimuth0 + i * golden_angle, std::asin(sin_lo + t * (sin_hi - sin_lo)), config.resolution));
  }
  const int n_test = config.n_test_views();
  for (int j = 0; j < n_test; ++j) {
    const double u = std::fmod(0.5 + j * 0.6180339887498949, 1.0);
    const double elevation =
        (kObjectTestElevationMin + u * (kObjectTestElevationMax - kObjectTestElevationMin)) * kDegree;
    const double azimuth = azimuth0 + 0.5 * golden_angle + 2 * kPi * (j + 0.5) / n_test;
    scene->test_cameras.push_back(objds_camera(azimuth, elevation, config.resolution));
  }
}

std::string objds_part_name(const synth::CategoryObject& object, int part_id) {
  return synth::category_part_names(object.category)[static_cast<size_t>(part_id - 1)];
}

nlohmann::json objds_labels(const ObjectInstance& instance) {
  const auto& parts = synth::category_part_names(instance.object.category);
  nlohmann::json classes = nlohmann::json::array({{{"id", 0}, {"name", "background"}}});
  for (size_t p = 0; p < parts.size(); ++p) classes.push_back({{"id", p + 1}, {"name", parts[p]}});
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& object : instance.scene.objects)
    instances.push_back({{"id", object.instance_id},
                         {"name", object.name},
                         {"class", object.class_name},
                         {"class_id", object.class_id},
                         {"bbox_min", vec_json(object.bbox.min())},
                         {"bbox_max", vec_json(object.bbox.max())}});
  return {{"classes", classes}, {"instances", instances}};
}

nlohmann::json objds_keypoints_3d(const synth::CategoryObject& object) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& k : object.keypoints)
    list.push_back({{"name", k.name},
                    {"part", objds_part_name(object, k.part_id)},
                    {"part_id", k.part_id},
                    {"xyz", vec_json(k.position)}});
  return list;
}

nlohmann::json objds_scene_json(const ObjectDatasetConfig& config, const ObjectInstance& instance) {
  const SynthScene& scene = instance.scene;
  nlohmann::json primitives = nlohmann::json::array();
  for (size_t i = 0; i < instance.object.primitives.size(); ++i) {
    nlohmann::json entry = primitive_to_json(instance.object.primitives[i]);
    entry["part_id"] = instance.object.part_ids[i];
    entry["part"] = objds_part_name(instance.object, instance.object.part_ids[i]);
    entry["instance_id"] = static_cast<int>(i) + 1;
    primitives.push_back(entry);
  }
  nlohmann::json out = {{"generator", "semfield synth --category"},
                        {"category", synth::category_name(config.category)},
                        {"seed", instance.seed},
                        {"dataset_seed", config.seed},
                        {"light",
                         {{"type", "directional"},
                          {"direction", vec_json(scene.light.direction)},
                          {"ambient", scene.light.ambient},
                          {"diffuse", scene.light.diffuse},
                          {"shadows", true}}},
                        {"primitives", primitives},
                        {"keypoints", objds_keypoints_3d(instance.object)}};
  if (config.style == "studio") {  // absent for the default style: older scene.json files stay identical
    out["style"] = "studio";
    out["light"]["studio"] = synth::studio_lights_json(instance.scene);
  }
  return out;
}

// Samples uniformly by area over the tessellated meshes, dropping samples buried inside another primitive (where
// parts overlap), so every point lies on the visible union's surface.
void objds_sample_points(const ObjectInstance& instance, int n, std::vector<float>* points, std::vector<int32_t>* labels) {
  struct Tri {
    int object;
    const std::array<uint32_t, 3>* tri;
  };
  std::vector<Tri> tris;
  std::vector<double> cumulative;
  double total = 0;
  const auto& objects = instance.scene.objects;
  for (size_t o = 0; o < objects.size(); ++o) {
    const synth::TriangleMesh& mesh = objects[o].meshes[0];
    for (const auto& t : mesh.triangles) {
      const Eigen::Vector3d a = mesh.positions[t[0]].cast<double>(), b = mesh.positions[t[1]].cast<double>(),
                            c = mesh.positions[t[2]].cast<double>();
      total += 0.5 * (b - a).cross(c - a).norm();
      tris.push_back({static_cast<int>(o), &t});
      cumulative.push_back(total);
    }
  }
  synth::SynthRng rng(splitmix64_finalize(instance.seed ^ 0x9017C0DE5A3B1E77ULL));
  int64_t attempts = 0;
  while (static_cast<int>(labels->size()) < n) {
    SEMFIELD_ASSERT(++attempts < 1000LL * n + 100000, "surface sampling rejected almost every sample");
    const double pick = rng.uniform() * total;
    const size_t k = std::min(tris.size() - 1, static_cast<size_t>(std::upper_bound(cumulative.begin(),
                                                                                   cumulative.end(), pick) -
                                                                  cumulative.begin()));
    const synth::TriangleMesh& mesh = objects[static_cast<size_t>(tris[k].object)].meshes[0];
    const auto& t = *tris[k].tri;
    double u = rng.uniform(), v = rng.uniform();
    if (u + v > 1) {
      u = 1 - u;
      v = 1 - v;
    }
    const Eigen::Vector3d p = mesh.positions[t[0]].cast<double>() +
                              u * (mesh.positions[t[1]] - mesh.positions[t[0]]).cast<double>() +
                              v * (mesh.positions[t[2]] - mesh.positions[t[0]]).cast<double>();
    bool buried = false;
    for (size_t o = 0; o < objects.size() && !buried; ++o)
      buried = static_cast<int>(o) != tris[k].object && synth::signed_distance(objects[o].parts[0], p) < -1e-4;
    if (buried) continue;
    for (int c = 0; c < 3; ++c) points->push_back(static_cast<float>(p[c]));
    labels->push_back(objects[static_cast<size_t>(tris[k].object)].class_id);
  }
}

}  // namespace

int ObjectDatasetConfig::n_test_views() const { return std::max(4, n_views / 5); }

void ObjectDatasetConfig::validate() const {
  if (n_instances < 1) fail_usage("--instances: expected at least 1, got {}", n_instances);
  if (n_views < 1) fail_usage("--views: expected at least 1, got {}", n_views);
  if (resolution < 8 || resolution > 4096) fail_usage("--res: expected 8..4096, got {}", resolution);
  if (n_points < 1) fail_usage("points per instance: expected at least 1, got {}", n_points);
  if (style != "lambert" && style != "studio")
    fail_usage("--style: unknown style '{}' (available: lambert, studio)", style);
}

ObjectInstance make_object_instance(const ObjectDatasetConfig& config, int index) {
  config.validate();
  ObjectInstance instance;
  instance.seed = config.seed + static_cast<uint64_t>(index);
  synth::SynthRng rng(splitmix64_finalize(instance.seed ^ 0x0B1EC7CA7E6031E5ULL));
  instance.object = synth::make_category_object(config.category, rng);
  SEMFIELD_ASSERT(instance.object.primitives.size() < 255, "too many primitives for an 8-bit instance map");

  SynthScene& scene = instance.scene;
  scene.config.n_views = config.n_views;
  scene.config.resolution = config.resolution;
  scene.config.seed = instance.seed;
  scene.table_radius = 0.0;
  scene.camera_radius = kObjectCameraRadius;
  scene.elevation_min = kObjectTrainElevationMin * kDegree;
  scene.elevation_max = kObjectTrainElevationMax * kDegree;
  scene.fov_x = kObjectFovDegrees * kDegree;
  scene.look_at = Eigen::Vector3d::Zero();
  std::vector<int> per_part(synth::category_part_names(config.category).size() + 1, 0);
  for (size_t i = 0; i < instance.object.primitives.size(); ++i) {
    const int part = instance.object.part_ids[i];
    SynthObject object;
    object.instance_id = static_cast<int>(i) + 1;
    object.class_name = objds_part_name(instance.object, part);
    object.name = fmt::format("{}_{}", object.class_name, per_part[static_cast<size_t>(part)]++);
    object.class_id = part;
    object.parts = {instance.object.primitives[i]};
    object.meshes = {synth::tessellate(object.parts[0], synth::kCategorySegments)};
    object.bbox = synth::mesh_bounds(object.meshes[0]);
    scene.objects.push_back(std::move(object));
  }
  // Light from the instance's own stream: a sun from anywhere above 25 degrees, and a random ambient share.
  const double azimuth = rng.uniform(0, 2 * kPi), elevation = rng.uniform(25.0, 75.0) * kDegree;
  scene.light.direction = Eigen::Vector3d(std::cos(elevation) * std::cos(azimuth),
                                          std::cos(elevation) * std::sin(azimuth), std::sin(elevation));
  scene.light.ambient = rng.uniform(0.2, 0.45);
  scene.light.diffuse = 1.0 - scene.light.ambient;
  if (config.style == "studio") synth::draw_studio_lights(scene, instance.seed);
  objds_cameras(config, &scene);
  return instance;
}

KeypointView project_keypoint(const synth::RayTracer& tracer, const Camera& camera, const Eigen::Vector3d& point) {
  KeypointView out;
  Eigen::Vector2d uv;
  if (!camera.world_to_pixel(point, &uv, &out.depth)) return out;
  out.xy = uv - Eigen::Vector2d::Constant(0.5);
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  out.in_frame = out.xy.x() >= 0 && out.xy.x() <= w - 1 && out.xy.y() >= 0 && out.xy.y() <= h - 1;
  if (!out.in_frame) return out;
  const Eigen::Vector3d origin = camera.origin(), to_point = point - origin;
  const double distance = to_point.norm();
  // A miss counts as visible: a ray aimed exactly at an edge may slip past the tessellation by float rounding.
  const auto hit = tracer.trace(origin, to_point / distance);
  out.visible = !hit || hit->t >= distance - (1e-3 * distance + 2e-3);
  return out;
}

std::vector<ObjectInstanceSummary> write_object_dataset(
    const ObjectDatasetConfig& config, const fs::path& out,
    const std::function<void(const ObjectInstanceSummary&)>& on_instance) {
  config.validate();
  std::error_code error;
  fs::create_directories(out, error);
  if (error) throw InputError(out, "", "cannot create the output folder: " + error.message());

  std::vector<std::string> folders;
  for (int k = 0; k < config.n_instances; ++k) folders.push_back(fmt::format("instance_{:03d}", k));
  nlohmann::json parts = nlohmann::json::array({{{"id", 0}, {"name", "background"}}});
  const auto& part_names = synth::category_part_names(config.category);
  for (size_t p = 0; p < part_names.size(); ++p) parts.push_back({{"id", p + 1}, {"name", part_names[p]}});
  synth::write_json_file(
      out / "category.json",
      {{"generator", "semfield synth --category"},
       {"category", synth::category_name(config.category)},
       {"parts", parts},
       {"keypoints", synth::category_keypoint_names(config.category)},
       {"instances", folders},
       {"seed", config.seed},
       {"instance_seeds", {{"first", config.seed}, {"rule", "instance k uses seed + k"}}},
       {"res", config.resolution},
       {"points", config.n_points},
       {"frame", "canonical: z up, front towards -y, left_ = -x; bounding box centred, longest edge 1"},
       {"cameras",
        {{"look_at", {0.0, 0.0, 0.0}},
         {"radius", kObjectCameraRadius},
         {"fov_x_degrees", kObjectFovDegrees},
         {"train", config.n_views},
         {"test", config.n_test_views()},
         {"train_elevation_degrees", {kObjectTrainElevationMin, kObjectTrainElevationMax}},
         {"test_elevation_degrees", {kObjectTestElevationMin, kObjectTestElevationMax}},
         {"same_for_every_instance", true}}}});

  std::vector<ObjectInstanceSummary> summaries;
  for (int k = 0; k < config.n_instances; ++k) {
    const auto start = std::chrono::steady_clock::now();
    const fs::path dir = out / folders[static_cast<size_t>(k)];
    fs::create_directories(dir, error);
    if (error) throw InputError(dir, "", "cannot create the output folder: " + error.message());
    const ObjectInstance instance = make_object_instance(config, k);
    const SynthScene& scene = instance.scene;
    const synth::RayTracer tracer(scene);
    synth::write_json_file(dir / "scene.json", objds_scene_json(config, instance));
    synth::write_json_file(dir / "labels.json", objds_labels(instance));

    const int n_views = static_cast<int>(scene.train_cameras.size() + scene.test_cameras.size());
    ProgressBar progress(fmt::format("synth {}/{}", out.filename().string(), folders[static_cast<size_t>(k)]), n_views,
                         "view");
    int done = 0, visible_total = 0;
    nlohmann::json views = nlohmann::json::object();
    for (const char* split : {"train", "test"}) {
      const bool train = std::string(split) == "train";
      const auto& cameras = train ? scene.train_cameras : scene.test_cameras;
      nlohmann::json transforms = synth::transforms_header(scene.fov_x, cameras.front().intrinsics);
      nlohmann::json frames = nlohmann::json::array();
      // Test images are numbered after the training ones, so "r_<i>" names one view across both splits.
      const size_t first_index = train ? 0 : scene.train_cameras.size();
      for (size_t i = 0; i < cameras.size(); ++i) {
        const std::string view = fmt::format("r_{}", first_index + i);
        const std::string stem = fmt::format("{}/{}", split, view);
        frames.push_back(synth::write_view_files(dir, stem, tracer.render(cameras[i]), cameras[i]));
        nlohmann::json all = nlohmann::json::array(), seen = nlohmann::json::array();
        for (const auto& keypoint : instance.object.keypoints) {
          const KeypointView kv = project_keypoint(tracer, cameras[i], keypoint.position);
          all.push_back({{"name", keypoint.name}, {"x", kv.xy.x()}, {"y", kv.xy.y()}, {"visible", kv.visible}});
          if (kv.visible) seen.push_back({{"name", keypoint.name}, {"x", kv.xy.x()}, {"y", kv.xy.y()}});
        }
        visible_total += static_cast<int>(seen.size());
        views[view] = all;
        synth::write_json_file(dir / (stem + "_keypoints.json"), {{"keypoints", seen}});
        progress.update(++done);
      }
      transforms["frames"] = frames;
      synth::write_json_file(dir / fmt::format("transforms_{}.json", split), transforms);
    }
    progress.finish();
    synth::write_json_file(dir / "keypoints.json",
                           {{"category", synth::category_name(config.category)},
                            {"keypoints", objds_keypoints_3d(instance.object)},
                            {"views", views}});

    std::vector<float> points;
    std::vector<int32_t> labels;
    objds_sample_points(instance, config.n_points, &points, &labels);
    write_npy(dir / "points.npy", Array::from_float({config.n_points, 3}, points));
    Array label_array = Array::zeros(DType::I32, {config.n_points});
    std::memcpy(label_array.data.data(), labels.data(), labels.size() * sizeof(int32_t));
    write_npy(dir / "points_labels.npy", label_array);

    ObjectInstanceSummary summary;
    summary.dir = dir;
    summary.seed = instance.seed;
    summary.n_primitives = static_cast<int>(instance.object.primitives.size());
    summary.n_keypoints = static_cast<int>(instance.object.keypoints.size());
    summary.n_train = static_cast<int>(scene.train_cameras.size());
    summary.n_test = static_cast<int>(scene.test_cameras.size());
    summary.resolution = config.resolution;
    summary.mean_visible = static_cast<double>(visible_total) / n_views;
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    summaries.push_back(summary);
    if (on_instance) on_instance(summary);
  }
  return summaries;
}

}  // namespace semfield
