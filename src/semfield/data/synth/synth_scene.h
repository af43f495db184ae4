// The procedural scene description of `semfield synth`: a table top, objects on it, a light and cameras.
//
// World frame: z up, the table top at z = 0, everything inside [-1.5, 1.5]^3 (preset "tabletop"; the NeRF-synthetic
// convention, which the loaders normalise with instant-ngp's default scale 0.33 / offset 0.5 into [-1,1]).
// Lengths are world units. Ids: instance 0 = nothing, 1 = ground, 2..N+1 = objects; semantic class
// 0 = void, 1 = ground, 2 + ShapeType for the objects (see synth_class_names()).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <nlohmann/json.hpp>

#include "semfield/data/synth/shapes.h"
#include "semfield/geometry/camera.h"

namespace semfield {

/// Options of the generator; the defaults are those of `semfield synth`.
struct SynthConfig {
  /// Scene family: "tabletop" (everything inside [-1.5, 1.5]^3, cameras 4 units away) or "open" (the same
  /// objects on a ground disc of radius 5 seen from 6 units away: content beyond the NeRF-synthetic box, as
  /// in an exported outdoor scene; its transforms.json gives no aabb_scale, so loaders must infer bounds).
  std::string preset = "tabletop";
  int n_objects = 5;                ///< objects on the table, 1..20
  int n_views = 40;                 ///< training views (>= 1); test views: n_test_views()
  int resolution = 128;             ///< image width in pixels, 8..4096 (and height unless `height` is set)
  int height = 0;                   ///< image height in pixels, 8..4096; 0 = square (the horizontal fov stays)
  uint64_t seed = 0;                ///< same seed -> byte-identical output
  int n_scenes = 1;                 ///< >= 1; scene k uses seed + k (see write_synth_dataset)
  /// Vary each scene beyond what its seed already varies (classes, textures, colours, placement, light direction):
  /// the object count (n_objects is then the maximum, at least half of it placed), the camera distance (x0.8..1.2),
  /// the elevation band of the cameras (from 5..25 degrees, 35..55 degrees wide) and the ambient/diffuse balance.
  /// For corpora that generalizable models learn from (`synth --scenes K --vary`).
  bool vary = false;
  /// Rendering style (same geometry, textures, light direction and cameras for the same seed): "lambert" (default:
  /// Lambert shading of the sRGB albedo, one sun with hard shadows, constant ambient: every corpus and benchmark scene)
  /// or "studio" (a second renderer for checking models on images they were not trained on: linear-light shading
  /// with an sRGB transfer curve, a warm key light with soft shadows, a cool unshadowed fill light, hemisphere
  /// ambient and per-object Blinn-Phong highlights, which are view-dependent). docs/formats.md.
  std::string style = "lambert";
  /// Held-out shapes: each object, with probability 1/2 (its own stream), is one of the shapes no corpus has
  /// (capsule, lamp, hoop, tower, rocket: class ids 10..14 after the corpus's 0..9), for checking generalizable models
  /// on object shapes they never saw. The rest of the scene is drawn as without it, but the shapes' own draws shift
  /// what follows, so the scene is not the same seed's plain scene with objects swapped.
  bool novel_shapes = false;

  /// Test views: max(4, n_views / 5), on camera positions distinct from the training ones.
  int n_test_views() const;
  /// Throws UsageError naming the first option out of range (or an unknown preset).
  void validate() const;
};

/// One thing with an instance id: the ground or an object (possibly made of several primitives).
struct SynthObject {
  int instance_id = 0;
  std::string name;        ///< "ground", "sphere_0", "table_1", ...
  std::string class_name;  ///< "ground" or shape_type_name(type)
  int class_id = 0;
  synth::ShapeType type = synth::ShapeType::Sphere;  ///< meaningless for the ground
  Eigen::Vector2d position = Eigen::Vector2d::Zero();  ///< footprint centre on the table
  double yaw = 0.0;                                    ///< radians about +z
  double footprint = 0.0;                              ///< footprint radius
  std::vector<synth::Primitive> parts;                 ///< world frame
  std::vector<synth::TriangleMesh> meshes;             ///< parts tessellated, world frame
  Eigen::AlignedBox3d bbox;                            ///< world bounds of the meshes
};

/// A directional light ("sun") with hard shadows, plus an ambient term:
/// colour = albedo * (ambient + diffuse * max(0, n . direction) * visible).
struct SynthLight {
  Eigen::Vector3d direction = Eigen::Vector3d::UnitZ();  ///< unit, from the surface towards the light
  double ambient = 0.3;
  double diffuse = 0.7;
};

struct SynthScene {
  SynthConfig config;
  double table_radius = 1.3;              ///< the ground is a disc of this radius, 0.05 thick, top at z = 0
  double camera_radius = 4.0;             ///< distance of every camera to look_at
  double elevation_min = 0.0, elevation_max = 0.0;  ///< radians: the band of the training cameras
  std::vector<SynthObject> objects;       ///< objects[0] is the ground (instance 1), then instances 2..N+1
  SynthLight light;
  /// "studio" style only (SynthConfig::style): its lights, and per object (index as `objects`) the Blinn-Phong
  /// specular strength and exponent.
  struct Studio {
    Eigen::Vector3d key_colour = Eigen::Vector3d::Ones();
    double key_angle = 0.0;  ///< radians: half-angle of the key light's disc as seen from the scene (soft shadows)
    Eigen::Vector3d fill_direction = Eigen::Vector3d::UnitZ();
    Eigen::Vector3d fill_colour = Eigen::Vector3d::Zero();
    Eigen::Vector3d sky_colour = Eigen::Vector3d::Zero(), ground_colour = Eigen::Vector3d::Zero();
    std::vector<double> specular, shininess;
  };
  Studio studio;
  double fov_x = 0.0;                     ///< horizontal field of view, radians
  Eigen::Vector3d look_at = Eigen::Vector3d::Zero();
  std::vector<Camera> train_cameras;      ///< c2w in OpenGL axes, on a golden-angle spiral
  std::vector<Camera> test_cameras;       ///< a separate ring of positions
};

namespace synth {
/// The "studio" style's lights and per-object highlights (SynthScene::Studio) for a scene whose objects and sun
/// direction are set, from a stream of `seed`'s own; sets scene.config.style. Objects named "ground" at index 0 get
/// the ground's weaker, broader highlight.
void draw_studio_lights(SynthScene& scene, uint64_t seed);
/// scene.json's `light.studio`.
nlohmann::json studio_lights_json(const SynthScene& scene);
/// sRGB in [0,1] of a hue (any real; its fractional part), saturation and value in [0,1].
Eigen::Vector3d hsv_to_rgb(double h, double s, double v);
/// A pinhole camera of `resolution` x `height` pixels (square when height is 0), square pixels and horizontal field
/// of view `fov_x` (radians) at `eye` looking at
/// `target` with the world z axis up (c2w in OpenGL axes).
Camera look_at_camera(const Eigen::Vector3d& eye, const Eigen::Vector3d& target, int resolution, double fov_x,
                      int height = 0);
/// The point at `radius` from `target` in direction (azimuth, elevation) about the world z axis (radians).
Eigen::Vector3d orbit_point(const Eigen::Vector3d& target, double radius, double azimuth, double elevation);
}  // namespace synth

/// Semantic class names indexed by class id: "void", "ground", then shape_type_name of the corpus's ShapeTypes (the
/// first kShapeTypeCount) or, with `with_novel`, of every ShapeType (labels.json of --novel-shapes scenes).
std::vector<std::string> synth_class_names(bool with_novel = false);

/// Builds the procedural description for config.seed: deterministic on every platform. Validates the
/// config first (UsageError).
SynthScene make_synth_scene(const SynthConfig& config);

/// One primitive as scene.json describes it: primitive, center, yaw, size, material (texture, colours,
/// period), and "pitch" only when it is nonzero.
nlohmann::json primitive_to_json(const synth::Primitive& primitive);

/// The scene description written as scene.json (config, light, cameras' layout, objects and their parts).
nlohmann::json synth_scene_to_json(const SynthScene& scene);

}  // namespace semfield
