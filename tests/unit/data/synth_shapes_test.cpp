// Tests for the synthetic generator's primitives: tessellation accuracy and orientation, textures.
#include "semfield/data/synth/shapes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "semfield/core/constants.h"

namespace {

using namespace semfield::synth;
using semfield::kPi;


Primitive make_primitive(PrimitiveKind kind, const Eigen::Vector3d& size) {
  Primitive p;
  p.kind = kind;
  p.center = Eigen::Vector3d(0.3, -0.2, 0.1);
  p.yaw = 0.7;
  p.size = size;
  return p;
}

// Enclosed volume by the divergence theorem; positive only if the mesh is closed and wound outward.
double signed_volume(const TriangleMesh& mesh) {
  double volume = 0;
  for (const auto& t : mesh.triangles) {
    const Eigen::Vector3d a = mesh.positions[t[0]].cast<double>(), b = mesh.positions[t[1]].cast<double>(),
                          c = mesh.positions[t[2]].cast<double>();
    volume += a.dot(b.cross(c)) / 6.0;
  }
  return volume;
}

// Every edge (keyed by its end positions, since seams duplicate vertices) is used by exactly two triangles,
// once in each direction: the mesh is closed and consistently oriented.
void expect_closed_and_oriented(const TriangleMesh& mesh) {
  auto key = [&](uint32_t v) {
    const Eigen::Vector3f& p = mesh.positions[v];
    return std::make_tuple(std::lround(p.x() * 1e5), std::lround(p.y() * 1e5), std::lround(p.z() * 1e5));
  };
  std::map<std::pair<decltype(key(0)), decltype(key(0))>, int> directed;
  for (const auto& t : mesh.triangles)
    for (int e = 0; e < 3; ++e) directed[{key(t[e]), key(t[(e + 1) % 3])}]++;
  int bad = 0;
  for (const auto& [edge, count] : directed) {
    const auto reverse = directed.find({edge.second, edge.first});
    if (count != 1 || reverse == directed.end() || reverse->second != 1) ++bad;
  }
  EXPECT_EQ(bad, 0);
}

struct VolumeCase {
  PrimitiveKind kind;
  Eigen::Vector3d size;
  double volume;
};

TEST(SynthShapes, TessellationIsClosedOutwardAndAccurate) {
  const double r = 0.3, h = 0.5, R = 0.4, m = 0.1;
  const std::vector<VolumeCase> cases = {
      {PrimitiveKind::Sphere, {r, r, r}, 4.0 / 3.0 * kPi * r * r * r},
      {PrimitiveKind::Hemisphere, {r, r, r}, 2.0 / 3.0 * kPi * r * r * r},
      {PrimitiveKind::Box, {0.1, 0.2, 0.3}, 8 * 0.1 * 0.2 * 0.3},
      {PrimitiveKind::Cylinder, {r, r, h}, kPi * r * r * h},
      {PrimitiveKind::Cone, {r, r, h}, kPi * r * r * h / 3},
      {PrimitiveKind::Torus, {R, m, m}, 2 * kPi * kPi * R * m * m},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(primitive_name(c.kind));
    const TriangleMesh mesh = tessellate(make_primitive(c.kind, c.size), 64);
    ASSERT_FALSE(mesh.triangles.empty());
    // Inscribed polygons lose about (2 pi / 64)^2 / 6 = 0.16 % per curved direction.
    EXPECT_NEAR(signed_volume(mesh), c.volume, 0.01 * c.volume);
    expect_closed_and_oriented(mesh);
    // Vertex normals agree with the winding (outward), and are unit.
    for (const auto& t : mesh.triangles) {
      const Eigen::Vector3f face = (mesh.positions[t[1]] - mesh.positions[t[0]])
                                       .cross(mesh.positions[t[2]] - mesh.positions[t[0]]);
      for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(mesh.normals[t[k]].norm(), 1.0f, 1e-5f);
        EXPECT_GT(face.dot(mesh.normals[t[k]]), 0.0f);
      }
    }
  }
}

TEST(SynthShapes, VerticesLieOnTheAnalyticSurfaceInTheWorldPose) {
  const Primitive sphere = make_primitive(PrimitiveKind::Sphere, {0.25, 0.25, 0.25});
  for (const auto& p : tessellate(sphere, 32).positions)
    EXPECT_NEAR((p.cast<double>() - sphere.center).norm(), 0.25, 1e-6);

  const Primitive torus = make_primitive(PrimitiveKind::Torus, {0.4, 0.1, 0.1});
  for (const auto& p : tessellate(torus, 32).positions) {
    const Eigen::Vector3d local = torus.to_local(p.cast<double>());
    EXPECT_NEAR(std::hypot(std::hypot(local.x(), local.y()) - 0.4, local.z()), 0.1, 1e-6);
  }

  // The box's corners are at the half extents after the yaw rotation.
  const Primitive box = make_primitive(PrimitiveKind::Box, {0.1, 0.2, 0.3});
  for (const auto& p : tessellate(box, 32).positions) {
    const Eigen::Vector3d local = box.to_local(p.cast<double>());
    EXPECT_NEAR(std::abs(local.x()), 0.1, 1e-6);
    EXPECT_NEAR(std::abs(local.y()), 0.2, 1e-6);
    EXPECT_NEAR(std::abs(local.z()), 0.3, 1e-6);
  }
  const Eigen::AlignedBox3d bounds = mesh_bounds(tessellate(box, 32));
  const double ex = 0.1 * std::cos(0.7) + 0.2 * std::sin(0.7);  // rotated half width along world x
  EXPECT_NEAR(bounds.max().x() - box.center.x(), ex, 1e-6);
}

// Distance from p to the triangle abc (closest point by Voronoi regions, Ericson's Real-Time Collision
// Detection 5.1.5).
double triangle_distance(const Eigen::Vector3d& p, const Eigen::Vector3d& a, const Eigen::Vector3d& b,
                         const Eigen::Vector3d& c) {
  const Eigen::Vector3d ab = b - a, ac = c - a, ap = p - a;
  const double d1 = ab.dot(ap), d2 = ac.dot(ap);
  if (d1 <= 0 && d2 <= 0) return ap.norm();
  const Eigen::Vector3d bp = p - b;
  const double d3 = ab.dot(bp), d4 = ac.dot(bp);
  if (d3 >= 0 && d4 <= d3) return bp.norm();
  const double vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) return (p - (a + d1 / (d1 - d3) * ab)).norm();
  const Eigen::Vector3d cp = p - c;
  const double d5 = ab.dot(cp), d6 = ac.dot(cp);
  if (d6 >= 0 && d5 <= d6) return cp.norm();
  const double vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) return (p - (a + d2 / (d2 - d6) * ac)).norm();
  const double va = d3 * d6 - d5 * d4;
  if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0)
    return (p - (b + (d4 - d3) / ((d4 - d3) + (d5 - d6)) * (c - b))).norm();
  const double denom = 1.0 / (va + vb + vc);
  return (p - (a + ab * (vb * denom) + ac * (vc * denom))).norm();
}

TEST(SynthShapes, SignedDistanceIsExactAgainstAFineTessellation) {
  const double r = 0.3, h = 0.5;
  const std::vector<std::pair<PrimitiveKind, Eigen::Vector3d>> cases = {
      {PrimitiveKind::Sphere, {r, r, r}},   {PrimitiveKind::Hemisphere, {r, r, r}}, {PrimitiveKind::Box, {0.1, 0.2, 0.3}},
      {PrimitiveKind::Cylinder, {r, r, h}}, {PrimitiveKind::Cone, {r, r, h}},       {PrimitiveKind::Torus, {0.4, 0.1, 0.1}},
  };
  SynthRng rng(11);
  for (const auto& [kind, size] : cases) {
    SCOPED_TRACE(primitive_name(kind));
    const Primitive primitive = make_primitive(kind, size);
    const TriangleMesh mesh = tessellate(primitive, 256);
    // Vertices lie on the surface.
    for (const auto& v : mesh.positions) EXPECT_NEAR(signed_distance(primitive, v.cast<double>()), 0.0, 1e-6);
    // |distance| is the distance to the nearest surface point: that of the fine tessellation, within its
    // polygonal error (r (pi / 256)^2 / 2 < 1e-5 here).
    const Eigen::AlignedBox3d bounds = mesh_bounds(mesh);
    for (int i = 0; i < 100; ++i) {
      Eigen::Vector3d p;
      for (int a = 0; a < 3; ++a) p[a] = rng.uniform(bounds.min()[a] - 0.2, bounds.max()[a] + 0.2);
      double nearest = 1e30;
      for (const auto& t : mesh.triangles)
        nearest = std::min(nearest, triangle_distance(p, mesh.positions[t[0]].cast<double>(),
                                                      mesh.positions[t[1]].cast<double>(), mesh.positions[t[2]].cast<double>()));
      EXPECT_NEAR(std::fabs(signed_distance(primitive, p)), nearest, 1e-4) << p.transpose();
    }
  }
  // Signs: inside negative, outside positive.
  const Primitive cone = make_primitive(PrimitiveKind::Cone, {r, r, h});
  EXPECT_NEAR(signed_distance(cone, cone.center + Eigen::Vector3d(0, 0, 0.1)), -0.1, 1e-12);  // above the base
  EXPECT_NEAR(signed_distance(cone, cone.center + Eigen::Vector3d(0, 0, h + 0.2)), 0.2, 1e-12);  // above the apex
  const Primitive hemisphere = make_primitive(PrimitiveKind::Hemisphere, {r, r, r});
  EXPECT_NEAR(signed_distance(hemisphere, hemisphere.center + Eigen::Vector3d(0, 0, 0.1)), -0.1, 1e-12);
  EXPECT_NEAR(signed_distance(hemisphere, hemisphere.center - Eigen::Vector3d(0, 0, 0.1)), 0.1, 1e-12);
  const Primitive torus = make_primitive(PrimitiveKind::Torus, {0.4, 0.1, 0.1});
  EXPECT_NEAR(signed_distance(torus, torus.center), 0.3, 1e-12);  // the hole's centre
  const Primitive cylinder = make_primitive(PrimitiveKind::Cylinder, {r, r, h});
  EXPECT_NEAR(signed_distance(cylinder, cylinder.center + Eigen::Vector3d(0, 0, 0.1)), -0.1, 1e-12);
}

TEST(SynthShapes, PlacedComposesTranslationAndYaw) {
  Primitive part = make_primitive(PrimitiveKind::Sphere, {0.1, 0.1, 0.1});
  part.center = Eigen::Vector3d(1, 0, 0.5);
  part.yaw = 0.1;
  const Primitive placed = part.placed(Eigen::Vector3d(0.2, 0.3, 0), kPi / 2);
  EXPECT_TRUE(placed.center.isApprox(Eigen::Vector3d(0.2, 1.3, 0.5), 1e-12));
  EXPECT_NEAR(placed.yaw, 0.1 + kPi / 2, 1e-12);
  EXPECT_TRUE(placed.to_local(Eigen::Vector3d(0.2, 1.3, 0.6)).isApprox(Eigen::Vector3d(0, 0, 0.1), 1e-12));
}

TEST(SynthShapes, TexturesShowBothColoursAndAreDeterministic) {
  Material m;
  m.color_a = Eigen::Vector3d(1, 0, 0);
  m.color_b = Eigen::Vector3d(0, 0, 1);
  m.period = 0.1;
  m.seed = 42;
  for (TextureKind kind : {TextureKind::Solid, TextureKind::Checker, TextureKind::Stripes, TextureKind::Dots,
                           TextureKind::Noise}) {
    SCOPED_TRACE(texture_name(kind));
    m.texture = kind;
    int near_a = 0, near_b = 0;
    for (int i = 0; i < 2000; ++i) {
      const Eigen::Vector3d p(0.013 * i, 0.7 * std::sin(0.37 * i), 0.5 * std::cos(0.11 * i));
      const Eigen::Vector3d colour = texture_color(m, p);
      EXPECT_EQ(colour, texture_color(m, p));
      // Every pattern blends between the two colours and nothing else.
      EXPECT_NEAR(colour.y(), 0.0, 1e-12);
      EXPECT_NEAR(colour.x() + colour.z(), 1.0, 1e-12);
      near_a += colour.x() > 0.9;
      near_b += colour.z() > 0.9;
    }
    if (kind == TextureKind::Solid) {
      EXPECT_EQ(near_a, 2000);
    } else {
      EXPECT_GT(near_a, 100);
      EXPECT_GT(near_b, 100);
    }
  }
}

TEST(SynthShapes, ShapesRestOnTheTableWithinTheirFootprint) {
  SynthRng rng(7);
  Material primary, secondary;
  for (int t = 0; t < kShapeTypeCount; ++t) {
    const auto type = static_cast<ShapeType>(t);
    SCOPED_TRACE(shape_type_name(type));
    const ShapeParts shape = make_shape(type, 0.3, primary, secondary, rng);
    Eigen::AlignedBox3d box;
    for (const auto& part : shape.parts) box.extend(mesh_bounds(tessellate(part, 64)));
    EXPECT_NEAR(box.min().z(), 0.0, 1e-6);
    EXPECT_NEAR(box.max().z(), shape.height, 0.01 * shape.height);
    for (const auto& part : shape.parts)
      for (const auto& p : tessellate(part, 64).positions)
        EXPECT_LE(std::hypot(p.x(), p.y()), shape.footprint + 1e-6);
  }
}

}  // namespace
