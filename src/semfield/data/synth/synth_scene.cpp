// Procedural tabletop scenes: object classes, materials, non-overlapping placement, light and cameras.
#include "semfield/data/synth/synth_scene.h"

#include <algorithm>
#include <cmath>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "semfield/core/json_vec.h"
#include "semfield/data/synth/synth_rng.h"

namespace semfield {

using synth::hsv_to_rgb;
using synth::look_at_camera;
using synth::Material;
using synth::orbit_point;
using synth::ShapeType;
using synth::SynthRng;
using synth::TextureKind;

namespace synth {

Eigen::Vector3d hsv_to_rgb(double h, double s, double v) {
  h = (h - std::floor(h)) * 6.0;
  const int sector = static_cast<int>(h) % 6;
  const double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (sector) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

Camera look_at_camera(const Eigen::Vector3d& eye, const Eigen::Vector3d& target, int resolution, double fov_x,
                      int height) {
  Camera camera;
  auto& K = camera.intrinsics;
  K.width = resolution;
  K.height = height > 0 ? height : resolution;
  K.fx = K.fy = 0.5 * resolution / std::tan(0.5 * fov_x);
  K.cx = 0.5 * K.width;
  K.cy = 0.5 * K.height;
  const Eigen::Vector3d forward = (target - eye).normalized();
  const Eigen::Vector3d right = forward.cross(Eigen::Vector3d::UnitZ()).normalized();
  const Eigen::Vector3d up = right.cross(forward);
  camera.c2w.setIdentity();
  camera.c2w.block<3, 1>(0, 0) = right;
  camera.c2w.block<3, 1>(0, 1) = up;
  camera.c2w.block<3, 1>(0, 2) = -forward;  // OpenGL: the camera looks down its -z axis
  camera.c2w.block<3, 1>(0, 3) = eye;
  return camera;
}

Eigen::Vector3d orbit_point(const Eigen::Vector3d& target, double radius, double azimuth, double elevation) {
  return target + radius * Eigen::Vector3d(std::cos(elevation) * std::cos(azimuth),
                                                  std::cos(elevation) * std::sin(azimuth), std::sin(elevation));
}

}  // namespace synth

namespace {

constexpr double kDeg = kDegree;
constexpr double kFovX = 40.0 * kDeg;       // about a 50 mm lens on a full-frame sensor
constexpr double kCameraRadius = 4.0;       // tabletop: camera distance to the look-at point
constexpr double kOpenGroundRadius = 5.0, kOpenCameraRadius = 6.0;  // "open": ground and cameras past [-1.5, 1.5]^3
constexpr double kMinElevation = 15.0 * kDeg, kMaxElevation = 65.0 * kDeg;
constexpr double kTableRadius = 1.3, kTableThickness = 0.05;
constexpr double kObjectGap = 0.04;         // free space between footprints and to the table edge
constexpr int kObjectSegments = 64, kTableSegments = 128;
constexpr int kMaxObjects = 20;

template <typename T>
void shuffle(std::vector<T>& items, SynthRng& rng) {
  for (int i = static_cast<int>(items.size()) - 1; i > 0; --i) std::swap(items[i], items[rng.index(i + 1)]);
}

Eigen::Vector3d random_offset(double period, SynthRng& rng) {
  return {rng.uniform(0, period), rng.uniform(0, period), rng.uniform(0, period)};
}

// An object's material: its own hue, a pale or dark second colour, and a pattern scaled to the object.
Material object_material(double hue, TextureKind texture, double size, SynthRng& rng) {
  Material m;
  const double s = rng.uniform(0.55, 0.85), v = rng.uniform(0.75, 0.95);
  m.color_a = hsv_to_rgb(hue, s, v);
  m.color_b = rng.uniform() < 0.5 ? hsv_to_rgb(hue, 0.25 * s, std::min(1.0, v + 0.1))
                                  : hsv_to_rgb(hue, s, 0.45 * v);
  m.texture = texture;
  m.period = texture == TextureKind::Noise ? size * rng.uniform(0.6, 1.0) : size * rng.uniform(0.3, 0.5);
  const Eigen::Vector3d axes[3] = {Eigen::Vector3d(0, 0, 1), Eigen::Vector3d(1, 0, 1).normalized(),
                                   Eigen::Vector3d(0, 1, 2).normalized()};
  m.axis = axes[rng.index(3)];
  m.offset = random_offset(m.period, rng);
  m.seed = rng.next_u64();
  return m;
}

// A neutral table top, so that the objects' colours stand out against it.
Material ground_material(SynthRng& rng) {
  const Eigen::Vector3d palettes[3][2] = {{{0.80, 0.70, 0.56}, {0.66, 0.55, 0.42}},
                                          {{0.78, 0.78, 0.76}, {0.58, 0.58, 0.57}},
                                          {{0.74, 0.78, 0.72}, {0.56, 0.60, 0.55}}};
  const int palette = rng.index(3);
  Material m;
  m.color_a = palettes[palette][0];
  m.color_b = palettes[palette][1];
  m.texture = rng.uniform() < 0.6 ? TextureKind::Checker : TextureKind::Noise;
  m.period = m.texture == TextureKind::Checker ? 0.26 : 0.45;
  // Half a period in z keeps the checker's z boundaries off the table's top face (z = 0).
  m.offset = Eigen::Vector3d(rng.uniform(0, m.period), rng.uniform(0, m.period), 0.5 * m.period);
  m.seed = rng.next_u64();
  return m;
}

Material stem_material(SynthRng& rng) {
  Material m;
  m.color_a = hsv_to_rgb(0.11, 0.15, 0.93);
  m.color_b = hsv_to_rgb(0.09, 0.30, 0.75);
  m.texture = TextureKind::Noise;
  m.period = 0.08;
  m.offset = random_offset(m.period, rng);
  m.seed = rng.next_u64();
  return m;
}


SynthObject make_object(int instance_id, std::string name, std::string class_name, int class_id,
                        const std::vector<synth::Primitive>& parts, int segments) {
  SynthObject object;
  object.instance_id = instance_id;
  object.name = std::move(name);
  object.class_name = std::move(class_name);
  object.class_id = class_id;
  object.parts = parts;
  for (const auto& part : parts) {
    object.meshes.push_back(synth::tessellate(part, segments));
    object.bbox.extend(synth::mesh_bounds(object.meshes.back()));
  }
  return object;
}


}  // namespace

int SynthConfig::n_test_views() const { return std::max(4, n_views / 5); }

void SynthConfig::validate() const {
  if (preset != "tabletop" && preset != "open")
    fail_usage("--preset: unknown preset '{}' (available: tabletop, open)", preset);
  if (n_objects < 1 || n_objects > kMaxObjects)
    fail_usage("--objects: expected 1..{}, got {}", kMaxObjects, n_objects);
  if (n_views < 1) fail_usage("--views: expected at least 1, got {}", n_views);
  if (resolution < 8 || resolution > 4096) fail_usage("--res: expected 8..4096, got {}", resolution);
  if (height != 0 && (height < 8 || height > 4096)) fail_usage("--height: expected 8..4096, got {}", height);
  if (n_scenes < 1) fail_usage("--scenes: expected at least 1, got {}", n_scenes);
  if (style != "lambert" && style != "studio")
    fail_usage("--style: unknown style '{}' (available: lambert, studio)", style);
}

std::vector<std::string> synth_class_names(bool with_novel) {
  std::vector<std::string> names = {"void", "ground"};
  const int count = with_novel ? synth::kAllShapeTypeCount : synth::kShapeTypeCount;
  for (int t = 0; t < count; ++t) names.emplace_back(shape_type_name(static_cast<ShapeType>(t)));
  return names;
}

namespace synth {
void draw_studio_lights(SynthScene& scene, uint64_t seed) {
  // Its own stream: the layout, textures and cameras stay those of the same seed in the default style.
  SynthRng studio(splitmix64_finalize(seed ^ 0x57D10C0FFEE5EEDULL));
  scene.config.style = "studio";
  SynthScene::Studio& s = scene.studio;
  const Eigen::Vector3d& key = scene.light.direction;
  s.key_colour =
      Eigen::Vector3d(1.0, studio.uniform(0.88, 0.97), studio.uniform(0.72, 0.9)) * studio.uniform(0.85, 1.05);
  s.key_angle = studio.uniform(4.0, 10.0) * kDeg;
  const double fill_azimuth = std::atan2(key.y(), key.x()) + kPi + studio.uniform(-0.6, 0.6),
               fill_elevation = studio.uniform(10, 35) * kDeg;
  s.fill_direction = Eigen::Vector3d(std::cos(fill_elevation) * std::cos(fill_azimuth),
                                     std::cos(fill_elevation) * std::sin(fill_azimuth), std::sin(fill_elevation));
  s.fill_colour =
      Eigen::Vector3d(studio.uniform(0.7, 0.85), studio.uniform(0.85, 0.95), 1.0) * studio.uniform(0.15, 0.35);
  s.sky_colour = Eigen::Vector3d(0.85, 0.92, 1.0) * studio.uniform(0.12, 0.25);
  s.ground_colour = Eigen::Vector3d(1.0, 0.95, 0.85) * studio.uniform(0.04, 0.1);
  s.specular.clear();
  s.shininess.clear();
  for (size_t o = 0; o < scene.objects.size(); ++o) {
    const bool ground = o == 0 && scene.objects[o].class_name == "ground";
    s.specular.push_back(ground ? studio.uniform(0.02, 0.1) : studio.uniform(0.05, 0.5));
    s.shininess.push_back(ground ? studio.uniform(4, 16) : std::exp(studio.uniform(std::log(8.0), std::log(120.0))));
  }
}

nlohmann::json studio_lights_json(const SynthScene& scene) {
  const SynthScene::Studio& s = scene.studio;
  return {{"key_colour", vec_json(s.key_colour)},
          {"key_angle_degrees", s.key_angle / kDeg},
          {"fill_direction", vec_json(s.fill_direction)},
          {"fill_colour", vec_json(s.fill_colour)},
          {"sky_colour", vec_json(s.sky_colour)},
          {"ground_colour", vec_json(s.ground_colour)},
          {"specular", s.specular},
          {"shininess", s.shininess}};
}
}  // namespace synth

SynthScene make_synth_scene(const SynthConfig& config) {
  config.validate();
  // Mixing the seed first makes seeds 0, 1, 2, ... start from unrelated states.
  SynthRng rng(splitmix64_finalize(config.seed ^ 0x5EED5C3E5EED5C3EULL));
  SynthScene scene;
  scene.config = config;
  const bool open = config.preset == "open";
  scene.table_radius = open ? kOpenGroundRadius : kTableRadius;
  scene.camera_radius = open ? kOpenCameraRadius : kCameraRadius;
  scene.elevation_min = kMinElevation;
  scene.elevation_max = kMaxElevation;
  int n_objects = config.n_objects;
  if (config.vary) {
    // Its own stream, so the draws below stay those of the same seed without --vary.
    SynthRng vary(splitmix64_finalize(config.seed ^ 0x7A41E5C3A1D2B4F6ULL));
    n_objects = (config.n_objects + 1) / 2 + vary.index(config.n_objects - (config.n_objects + 1) / 2 + 1);
    scene.camera_radius *= vary.uniform(0.8, 1.2);
    scene.elevation_min = vary.uniform(5.0, 25.0) * kDeg;
    scene.elevation_max = scene.elevation_min + vary.uniform(35.0, 55.0) * kDeg;
    scene.light.ambient = vary.uniform(0.15, 0.45);
    scene.light.diffuse = 1.0 - scene.light.ambient;
  }
  scene.fov_x = kFovX;
  scene.look_at = Eigen::Vector3d(0, 0, 0.3);

  // Ground: a thin disc whose top face is the plane z = 0.
  synth::Primitive table;
  table.kind = synth::PrimitiveKind::Cylinder;
  table.center = Eigen::Vector3d(0, 0, -kTableThickness);
  table.size = Eigen::Vector3d(scene.table_radius, scene.table_radius, kTableThickness);
  table.material = ground_material(rng);
  scene.objects.push_back(make_object(1, "ground", "ground", 1, {table}, kTableSegments));

  // Classes, hues and patterns are dealt from shuffled decks, so a small scene shows distinct ones.
  const int n = n_objects;
  std::vector<ShapeType> types;
  std::vector<TextureKind> textures;
  std::vector<int> hue_slots(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) hue_slots[static_cast<size_t>(k)] = k;
  shuffle(hue_slots, rng);
  while (static_cast<int>(types.size()) < n) {
    std::vector<ShapeType> deck;
    for (int t = 0; t < synth::kShapeTypeCount; ++t) deck.push_back(static_cast<ShapeType>(t));
    shuffle(deck, rng);
    types.insert(types.end(), deck.begin(), deck.end());
  }
  if (config.novel_shapes) {
    // Its own stream: about half the objects become held-out shapes, dealt from their own shuffled deck.
    SynthRng novel(splitmix64_finalize(config.seed ^ 0x0DDBA11C0FFEE123ULL));
    std::vector<ShapeType> deck;
    for (size_t k = 0; k < types.size(); ++k) {
      if (novel.uniform() >= 0.5) continue;
      if (deck.empty()) {
        for (int t = synth::kShapeTypeCount; t < synth::kAllShapeTypeCount; ++t)
          deck.push_back(static_cast<ShapeType>(t));
        shuffle(deck, novel);
      }
      types[k] = deck.back();
      deck.pop_back();
    }
  }
  while (static_cast<int>(textures.size()) < n) {
    std::vector<TextureKind> deck = {TextureKind::Solid, TextureKind::Checker, TextureKind::Stripes,
                                     TextureKind::Dots, TextureKind::Noise};
    shuffle(deck, rng);
    textures.insert(textures.end(), deck.begin(), deck.end());
  }
  const double hue0 = rng.uniform();

  // Sizes shrink with the object count so the footprints cover about a third of the table; random
  // sequential placement then rarely fails, and when it does everything is retried 10 % smaller.
  double size = std::min(0.45, 0.7 / std::sqrt(static_cast<double>(n)));
  struct Placement {
    synth::ShapeParts shape;
    Eigen::Vector2d position;
    double yaw;
  };
  std::vector<Placement> placements;
  for (int attempt = 0;; ++attempt) {
    SEMFIELD_ASSERT(attempt < 40, "object placement did not converge");
    placements.clear();
    bool ok = true;
    for (int k = 0; k < n && ok; ++k) {
      const double hue = hue0 + static_cast<double>(hue_slots[static_cast<size_t>(k)]) / n;
      const Material primary = object_material(hue, textures[static_cast<size_t>(k)], size, rng);
      const Material secondary = stem_material(rng);
      Placement placement{synth::make_shape(types[static_cast<size_t>(k)], size, primary, secondary, rng),
                          Eigen::Vector2d::Zero(), rng.uniform(0, 2 * kPi)};
      const double reach = kTableRadius - kObjectGap - placement.shape.footprint;
      ok = false;
      for (int trial = 0; trial < 300 && !ok && reach > 0; ++trial) {
        const double r = reach * std::sqrt(rng.uniform()), phi = rng.uniform(0, 2 * kPi);
        placement.position = Eigen::Vector2d(r * std::cos(phi), r * std::sin(phi));
        ok = std::all_of(placements.begin(), placements.end(), [&](const Placement& other) {
          return (other.position - placement.position).norm() >
                 other.shape.footprint + placement.shape.footprint + kObjectGap;
        });
      }
      if (ok) placements.push_back(placement);
    }
    if (ok) break;
    size *= 0.9;
  }

  std::vector<int> per_class(synth::kAllShapeTypeCount, 0);
  for (int k = 0; k < n; ++k) {
    const Placement& placement = placements[static_cast<size_t>(k)];
    const ShapeType type = types[static_cast<size_t>(k)];
    std::vector<synth::Primitive> parts;
    for (const auto& part : placement.shape.parts)
      parts.push_back(part.placed(Eigen::Vector3d(placement.position.x(), placement.position.y(), 0.0),
                                  placement.yaw));
    const std::string class_name = shape_type_name(type);
    SynthObject object =
        make_object(2 + k, class_name + "_" + std::to_string(per_class[static_cast<size_t>(type)]++), class_name,
                    synth::shape_class_id(type), parts, kObjectSegments);
    object.type = type;
    object.position = placement.position;
    object.yaw = placement.yaw;
    object.footprint = placement.shape.footprint;
    SEMFIELD_ASSERT(object.bbox.min().minCoeff() >= -1.5 && object.bbox.max().maxCoeff() <= 1.5,
                    "object outside the [-1.5, 1.5]^3 scene box");
    scene.objects.push_back(std::move(object));
  }

  const double light_azimuth = rng.uniform(0, 2 * kPi), light_elevation = rng.uniform(40, 65) * kDeg;
  scene.light.direction = Eigen::Vector3d(std::cos(light_elevation) * std::cos(light_azimuth),
                                          std::cos(light_elevation) * std::sin(light_azimuth),
                                          std::sin(light_elevation));
  if (config.style == "studio") synth::draw_studio_lights(scene, config.seed);

  // Training cameras: a golden-angle spiral, uniform in sin(elevation) so they cover the band of the
  // hemisphere evenly. Test cameras: an even ring with elevations from a golden-ratio sequence, offset in
  // azimuth so no test position repeats a training one.
  const double golden_angle = kPi * (3.0 - std::sqrt(5.0));
  const double azimuth0 = rng.uniform(0, 2 * kPi);
  const double sin_lo = std::sin(scene.elevation_min), sin_hi = std::sin(scene.elevation_max);
  for (int i = 0; i < config.n_views; ++i) {
    const double t = (i + 0.5) / config.n_views;
    const double elevation = std::asin(sin_lo + t * (sin_hi - sin_lo));
    scene.train_cameras.push_back(look_at_camera(
        orbit_point(scene.look_at, scene.camera_radius, azimuth0 + i * golden_angle, elevation), scene.look_at, config.resolution, kFovX, config.height));
  }
  const int n_test = config.n_test_views();
  for (int j = 0; j < n_test; ++j) {
    const double u = std::fmod(0.5 + j * 0.6180339887498949, 1.0);
    const double elevation = 20.0 * kDeg + u * 40.0 * kDeg;
    const double azimuth = azimuth0 + 0.5 * golden_angle + 2 * kPi * (j + 0.5) / n_test;
    scene.test_cameras.push_back(
        look_at_camera(orbit_point(scene.look_at, scene.camera_radius, azimuth, elevation), scene.look_at, config.resolution, kFovX, config.height));
  }
  return scene;
}

nlohmann::json primitive_to_json(const synth::Primitive& part) {
  const auto& m = part.material;
  nlohmann::json out = {{"primitive", synth::primitive_name(part.kind)},
                        {"center", vec_json(part.center)},
                        {"yaw", part.yaw},
                        {"size", vec_json(part.size)},
                        {"material",
                         {{"texture", synth::texture_name(m.texture)},
                          {"color_a", vec_json(m.color_a)},
                          {"color_b", vec_json(m.color_b)},
                          {"period", m.period}}}};
  if (part.pitch != 0.0) out["pitch"] = part.pitch;  // absent when zero: older scene.json files stay identical
  return out;
}

nlohmann::json synth_scene_to_json(const SynthScene& scene) {
  nlohmann::json out;
  out["generator"] = "semfield synth";
  out["config"] = {{"preset", scene.config.preset},         {"objects", static_cast<int>(scene.objects.size()) - 1},
                   {"vary", scene.config.vary},
                   {"views", scene.config.n_views},          {"test_views", scene.config.n_test_views()},
                   {"res", scene.config.resolution},         {"seed", scene.config.seed}};
  if (scene.config.height > 0) out["config"]["height"] = scene.config.height;
  // Absent at their defaults: older scene.json files stay identical.
  if (scene.config.style != "lambert") out["config"]["style"] = scene.config.style;
  if (scene.config.novel_shapes) out["config"]["novel_shapes"] = true;
  out["table"] = {{"shape", "disc"}, {"radius", scene.table_radius}, {"thickness", kTableThickness},
                  {"top_z", 0.0}};
  out["light"] = {{"type", "directional"},
                  {"direction", vec_json(scene.light.direction)},
                  {"ambient", scene.light.ambient},
                  {"diffuse", scene.light.diffuse},
                  {"shadows", true}};
  if (scene.config.style == "studio") out["light"]["studio"] = synth::studio_lights_json(scene);
  out["cameras"] = {{"look_at", vec_json(scene.look_at)},
                    {"radius", scene.camera_radius},
                    {"fov_x_degrees", scene.fov_x / kDeg},
                    {"elevation_degrees", {scene.elevation_min / kDeg, scene.elevation_max / kDeg}},
                    {"train", scene.train_cameras.size()},
                    {"test", scene.test_cameras.size()}};
  nlohmann::json objects = nlohmann::json::array();
  for (const auto& object : scene.objects) {
    nlohmann::json parts = nlohmann::json::array();
    for (const auto& part : object.parts) parts.push_back(primitive_to_json(part));
    objects.push_back({{"id", object.instance_id},
                       {"name", object.name},
                       {"class", object.class_name},
                       {"class_id", object.class_id},
                       {"position", {object.position.x(), object.position.y()}},
                       {"yaw", object.yaw},
                       {"footprint_radius", object.footprint},
                       {"bbox_min", vec_json(object.bbox.min())},
                       {"bbox_max", vec_json(object.bbox.max())},
                       {"parts", parts}});
  }
  out["objects"] = objects;
  return out;
}

}  // namespace semfield
