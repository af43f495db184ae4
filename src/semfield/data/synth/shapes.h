// The synthetic generator's building blocks: primitives, the shape classes built from them, and their
// procedural solid textures.
//
// Frames: every primitive has a local frame (z up) placed in the world by a centre and a rotation
// R = Rz(yaw) * Rx(pitch) (pitch about the local x axis first, then yaw about the world z axis); the world is
// z up with the table top at z = 0. Lengths are world units.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "semfield/data/synth/synth_rng.h"

namespace semfield::synth {

/// Procedural textures. They are *solid* textures, evaluated at the primitive-local 3D point, so they need
/// no uv parametrisation and a surface point has the same colour in every view.
enum class TextureKind { Solid, Checker, Stripes, Dots, Noise };
const char* texture_name(TextureKind kind);

struct Material {
  Eigen::Vector3d color_a{0.8, 0.8, 0.8};  ///< base colour, sRGB in [0,1]
  Eigen::Vector3d color_b{0.4, 0.4, 0.4};  ///< second colour of the pattern (checks, stripes, dots, noise)
  TextureKind texture = TextureKind::Solid;
  double period = 0.1;                      ///< pattern period, world units
  Eigen::Vector3d axis{0, 0, 1};            ///< stripes run across this unit axis (local frame)
  Eigen::Vector3d offset{0, 0, 0};          ///< shifts the pattern lattice off the primitive's faces
  uint64_t seed = 0;                        ///< noise and dot-jitter lattice hash seed
};

/// Albedo of `material` at a primitive-local point, sRGB in [0,1]. Deterministic (integer hashing only).
Eigen::Vector3d texture_color(const Material& material, const Eigen::Vector3d& local);

/// Closed surfaces the shapes are made of; local dimensions in `Primitive::size`:
///  - Sphere:     origin at the centre; size.x = radius.
///  - Hemisphere: origin at the centre of the flat disc, dome towards +z; size.x = radius.
///  - Box:        origin at the centre; size = half extents (x, y, z).
///  - Cylinder:   origin at the centre of the bottom disc, axis +z; size.x = radius, size.z = height.
///  - Cone:       origin at the centre of the base disc, apex at +z; size.x = base radius, size.z = height.
///  - Torus:      origin at the centre, lying in the local xy plane; size.x = major, size.y = minor radius.
enum class PrimitiveKind { Sphere, Hemisphere, Box, Cylinder, Cone, Torus };
const char* primitive_name(PrimitiveKind kind);

struct Primitive {
  PrimitiveKind kind = PrimitiveKind::Sphere;
  Eigen::Vector3d center = Eigen::Vector3d::Zero();  ///< world (or object-local, before placement)
  double yaw = 0.0;                                  ///< rotation about +z, radians
  /// Rotation about the local x axis applied before the yaw, radians: local +z becomes
  /// (0, -sin(pitch), cos(pitch)) before the yaw (pitch = pi/2 lays a cylinder's axis along -y).
  double pitch = 0.0;
  Eigen::Vector3d size = Eigen::Vector3d::Ones();
  Material material;

  /// Local -> world rotation R = Rz(yaw) * Rx(pitch).
  Eigen::Matrix3d rotation() const;
  /// World point -> primitive-local point (undoes centre and rotation).
  Eigen::Vector3d to_local(const Eigen::Vector3d& world) const;
  /// Primitive-local point -> world point.
  Eigen::Vector3d to_world(const Eigen::Vector3d& local) const;
  /// The primitive moved into a parent frame given by a translation and a yaw (the parent's pose); the
  /// pitch, being applied first, is kept.
  Primitive placed(const Eigen::Vector3d& translation, double parent_yaw) const;
};

/// Signed distance from a world point to the primitive's analytic surface (negative inside), exact for every
/// kind. The renderer traces the tessellation, which lies within its polygonal error of this surface. Used
/// to label geometry by the nearest ground-truth surface (bench/mesh_bench.cpp).
double signed_distance(const Primitive& primitive, const Eigen::Vector3d& world);

/// A triangle mesh with per-vertex normals (vertices are duplicated along hard edges). World frame.
struct TriangleMesh {
  std::vector<Eigen::Vector3f> positions;
  std::vector<Eigen::Vector3f> normals;  ///< unit, outward
  std::vector<std::array<uint32_t, 3>> triangles;  ///< counter-clockwise seen from outside
};

/// Tessellates a primitive into a closed mesh whose vertices lie on the analytic surface. `segments` is the
/// number of divisions around a full circle (>= 8); the polygonal error is about r * (pi/segments)^2 / 2.
TriangleMesh tessellate(const Primitive& primitive, int segments);

/// Axis-aligned world bounding box of the mesh's vertices (which bound every rendered surface point).
Eigen::AlignedBox3d mesh_bounds(const TriangleMesh& mesh);

/// The object classes the generator places on the table: simple primitives and composites of them.
/// Their semantic class ids are 2 + the enum value (0 = void, 1 = ground). The first kShapeTypeCount are the
/// corpus's classes (every scene without --novel-shapes, and every shipped model's class set); the rest are the
/// held-out shapes of `synth --novel-shapes` (SynthConfig::novel_shapes), which no corpus has.
enum class ShapeType {
  Sphere, Box, Cylinder, Cone, Torus, Snowman, Mushroom, Table,  // the corpus's
  Capsule, Lamp, Hoop, Tower, Rocket                               // held out (--novel-shapes)
};
constexpr int kShapeTypeCount = 8;
constexpr int kAllShapeTypeCount = 13;
const char* shape_type_name(ShapeType type);
inline int shape_class_id(ShapeType type) { return 2 + static_cast<int>(type); }

/// A shape's parts in the object frame (origin on the table under the object, z up), resting on z = 0.
struct ShapeParts {
  std::vector<Primitive> parts;
  double footprint = 0.0;  ///< radius of the object's xy footprint around the origin (for placement)
  double height = 0.0;     ///< top of the object above the table
};

/// Builds a shape of roughly `size` footprint radius (the exact proportions are drawn from `rng`). `primary`
/// dresses the main parts; composites use `secondary` for their accent part (the mushroom's stem).
ShapeParts make_shape(ShapeType type, double size, const Material& primary, const Material& secondary,
                      SynthRng& rng);

}  // namespace semfield::synth
