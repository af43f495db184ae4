// Primitives, their tessellation, the shape classes and the procedural solid textures.
#include "semfield/data/synth/shapes.h"

#include <algorithm>
#include <cmath>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"

namespace semfield::synth {

namespace {


Eigen::Matrix3d yaw_matrix(double yaw) {
  return Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix();
}

// ---- textures ----

int64_t floor_to_int(double x) { return static_cast<int64_t>(std::floor(x)); }

// Hash of an integer lattice point to [0, 1): decorrelates the three coordinates and the seed by chaining
// the splitmix64 finaliser, so neighbouring cells get unrelated values.
double lattice_hash(int64_t x, int64_t y, int64_t z, uint64_t seed) {
  uint64_t h = splitmix64_finalize(seed ^ 0x6A09E667F3BCC909ULL);
  h = splitmix64_finalize(h ^ static_cast<uint64_t>(x));
  h = splitmix64_finalize(h ^ static_cast<uint64_t>(y));
  h = splitmix64_finalize(h ^ static_cast<uint64_t>(z));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

double smooth(double t) { return t * t * (3.0 - 2.0 * t); }

// Value noise: lattice values blended trilinearly with smoothstep weights (C1 across cells).
double value_noise(const Eigen::Vector3d& q, uint64_t seed) {
  const int64_t x0 = floor_to_int(q.x()), y0 = floor_to_int(q.y()), z0 = floor_to_int(q.z());
  const double fx = smooth(q.x() - x0), fy = smooth(q.y() - y0), fz = smooth(q.z() - z0);
  double c[2][2][2];
  for (int dx = 0; dx < 2; ++dx)
    for (int dy = 0; dy < 2; ++dy)
      for (int dz = 0; dz < 2; ++dz) c[dx][dy][dz] = lattice_hash(x0 + dx, y0 + dy, z0 + dz, seed);
  auto lerp = [](double a, double b, double t) { return a + (b - a) * t; };
  const double x00 = lerp(c[0][0][0], c[1][0][0], fx), x10 = lerp(c[0][1][0], c[1][1][0], fx);
  const double x01 = lerp(c[0][0][1], c[1][0][1], fx), x11 = lerp(c[0][1][1], c[1][1][1], fx);
  return lerp(lerp(x00, x10, fy), lerp(x01, x11, fy), fz);
}

// ---- tessellation ----

class MeshBuilder {
 public:
  uint32_t vertex(const Eigen::Vector3d& p, const Eigen::Vector3d& n) {
    m_positions.push_back(p);
    m_normals.push_back(n.normalized());
    return static_cast<uint32_t>(m_positions.size() - 1);
  }
  // Degenerate triangles (at poles and apexes) are dropped: they are never hit but cost BVH work.
  void triangle(uint32_t a, uint32_t b, uint32_t c) {
    const Eigen::Vector3d e = (m_positions[b] - m_positions[a]).cross(m_positions[c] - m_positions[a]);
    if (e.norm() > 1e-14) m_triangles.push_back({a, b, c});
  }
  // A (rows+1) x (cols+1) vertex grid; the surface must satisfy d/drow x d/dcol = outward normal.
  template <typename F>
  void grid(int rows, int cols, F&& point_and_normal) {
    const auto base = static_cast<uint32_t>(m_positions.size());
    for (int i = 0; i <= rows; ++i)
      for (int j = 0; j <= cols; ++j) {
        Eigen::Vector3d p, n;
        point_and_normal(i, j, &p, &n);
        vertex(p, n);
      }
    const auto at = [&](int i, int j) { return base + static_cast<uint32_t>(i * (cols + 1) + j); };
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        triangle(at(i, j), at(i + 1, j), at(i + 1, j + 1));
        triangle(at(i, j), at(i + 1, j + 1), at(i, j + 1));
      }
  }
  // A flat disc at height z facing +z (up = true) or -z.
  void disc(double z, double radius, bool up, int segments) {
    const Eigen::Vector3d n(0, 0, up ? 1 : -1);
    const uint32_t centre = vertex({0, 0, z}, n);
    std::vector<uint32_t> ring;
    for (int j = 0; j <= segments; ++j) {
      const double phi = 2 * kPi * j / segments;
      ring.push_back(vertex({radius * std::cos(phi), radius * std::sin(phi), z}, n));
    }
    for (int j = 0; j < segments; ++j) {
      if (up)
        triangle(centre, ring[j], ring[j + 1]);
      else
        triangle(centre, ring[j + 1], ring[j]);
    }
  }

  TriangleMesh finish(const Primitive& primitive) const {
    const Eigen::Matrix3d rotation = primitive.rotation();
    TriangleMesh mesh;
    mesh.positions.reserve(m_positions.size());
    mesh.normals.reserve(m_normals.size());
    for (size_t k = 0; k < m_positions.size(); ++k) {
      mesh.positions.push_back((rotation * m_positions[k] + primitive.center).cast<float>());
      mesh.normals.push_back((rotation * m_normals[k]).cast<float>());
    }
    mesh.triangles = m_triangles;
    return mesh;
  }

 private:
  std::vector<Eigen::Vector3d> m_positions, m_normals;
  std::vector<std::array<uint32_t, 3>> m_triangles;
};

// Unit-sphere point for polar angle theta (from +z) and azimuth phi.
Eigen::Vector3d spherical(double theta, double phi) {
  return {std::sin(theta) * std::cos(phi), std::sin(theta) * std::sin(phi), std::cos(theta)};
}

void add_sphere_cap(MeshBuilder& builder, double radius, double theta_max, int rows, int segments) {
  builder.grid(rows, segments, [&](int i, int j, Eigen::Vector3d* p, Eigen::Vector3d* n) {
    *n = spherical(theta_max * i / rows, 2 * kPi * j / segments);
    *p = radius * *n;
  });
}

void add_box(MeshBuilder& builder, const Eigen::Vector3d& half) {
  // Each face: outward normal n and tangents t1 x t2 = n.
  const Eigen::Vector3d x = Eigen::Vector3d::UnitX(), y = Eigen::Vector3d::UnitY(), z = Eigen::Vector3d::UnitZ();
  const std::array<std::array<Eigen::Vector3d, 3>, 6> faces = {{{x, y, z}, {-x, z, y}, {y, z, x},
                                                                {-y, x, z}, {z, x, y}, {-z, y, x}}};
  for (const auto& face : faces) {
    const Eigen::Vector3d& n = face[0];
    const Eigen::Vector3d& t1 = face[1];
    const Eigen::Vector3d& t2 = face[2];
    uint32_t v[4];
    const double s1[4] = {-1, 1, 1, -1}, s2[4] = {-1, -1, 1, 1};
    for (int k = 0; k < 4; ++k) v[k] = builder.vertex((n + s1[k] * t1 + s2[k] * t2).cwiseProduct(half), n);
    builder.triangle(v[0], v[1], v[2]);
    builder.triangle(v[0], v[2], v[3]);
  }
}

}  // namespace

const char* texture_name(TextureKind kind) {
  switch (kind) {
    case TextureKind::Solid: return "solid";
    case TextureKind::Checker: return "checker";
    case TextureKind::Stripes: return "stripes";
    case TextureKind::Dots: return "dots";
    case TextureKind::Noise: return "noise";
  }
  return "?";
}

const char* primitive_name(PrimitiveKind kind) {
  switch (kind) {
    case PrimitiveKind::Sphere: return "sphere";
    case PrimitiveKind::Hemisphere: return "hemisphere";
    case PrimitiveKind::Box: return "box";
    case PrimitiveKind::Cylinder: return "cylinder";
    case PrimitiveKind::Cone: return "cone";
    case PrimitiveKind::Torus: return "torus";
  }
  return "?";
}

const char* shape_type_name(ShapeType type) {
  switch (type) {
    case ShapeType::Sphere: return "sphere";
    case ShapeType::Box: return "box";
    case ShapeType::Cylinder: return "cylinder";
    case ShapeType::Cone: return "cone";
    case ShapeType::Torus: return "torus";
    case ShapeType::Snowman: return "snowman";
    case ShapeType::Mushroom: return "mushroom";
    case ShapeType::Table: return "table";
    case ShapeType::Capsule: return "capsule";
    case ShapeType::Lamp: return "lamp";
    case ShapeType::Hoop: return "hoop";
    case ShapeType::Tower: return "tower";
    case ShapeType::Rocket: return "rocket";
  }
  return "?";
}

Eigen::Vector3d texture_color(const Material& m, const Eigen::Vector3d& local) {
  const Eigen::Vector3d q = (local + m.offset) / m.period;
  switch (m.texture) {
    case TextureKind::Solid:
      return m.color_a;
    case TextureKind::Checker: {
      const int64_t parity = floor_to_int(q.x()) + floor_to_int(q.y()) + floor_to_int(q.z());
      return (parity & 1) ? m.color_b : m.color_a;
    }
    case TextureKind::Stripes:
      return (floor_to_int(q.dot(m.axis)) & 1) ? m.color_b : m.color_a;
    case TextureKind::Dots: {
      // One ball per lattice cell, its centre jittered by up to 0.15 cells so the pattern is not a grid;
      // radius 0.3 keeps every ball inside its own cell, so only that cell needs testing.
      const Eigen::Vector3d cell(std::floor(q.x()), std::floor(q.y()), std::floor(q.z()));
      const auto cx = static_cast<int64_t>(cell.x()), cy = static_cast<int64_t>(cell.y()),
                 cz = static_cast<int64_t>(cell.z());
      const Eigen::Vector3d jitter(lattice_hash(cx, cy, cz, m.seed) - 0.5, lattice_hash(cx, cy, cz, m.seed + 1) - 0.5,
                                   lattice_hash(cx, cy, cz, m.seed + 2) - 0.5);
      const Eigen::Vector3d centre = cell + Eigen::Vector3d::Constant(0.5) + 0.3 * jitter;
      return (q - centre).norm() < 0.3 ? m.color_b : m.color_a;
    }
    case TextureKind::Noise: {
      // Three octaves of value noise, contrast-stretched so both colours show.
      double sum = 0, amplitude = 1, total = 0, frequency = 1;
      for (int octave = 0; octave < 3; ++octave) {
        sum += amplitude * value_noise(q * frequency, m.seed + static_cast<uint64_t>(octave));
        total += amplitude;
        amplitude *= 0.5;
        frequency *= 2.0;
      }
      const double t = smooth(std::clamp((sum / total - 0.25) / 0.5, 0.0, 1.0));
      return m.color_a + t * (m.color_b - m.color_a);
    }
  }
  return m.color_a;
}

// Without a pitch the rotation is exactly the yaw matrix of earlier versions, so unpitched primitives
// tessellate and shade bit for bit as before.
Eigen::Matrix3d Primitive::rotation() const {
  if (pitch == 0.0) return yaw_matrix(yaw);
  return yaw_matrix(yaw) * Eigen::AngleAxisd(pitch, Eigen::Vector3d::UnitX()).toRotationMatrix();
}

Eigen::Vector3d Primitive::to_local(const Eigen::Vector3d& world) const {
  if (pitch == 0.0) return yaw_matrix(-yaw) * (world - center);
  return rotation().transpose() * (world - center);
}

Eigen::Vector3d Primitive::to_world(const Eigen::Vector3d& local) const { return rotation() * local + center; }

namespace {

// Distance from q to the segment [a, b] in the plane.
double segment_distance(const Eigen::Vector2d& q, const Eigen::Vector2d& a, const Eigen::Vector2d& b) {
  const Eigen::Vector2d ab = b - a;
  const double t = std::clamp((q - a).dot(ab) / ab.squaredNorm(), 0.0, 1.0);
  return (q - a - t * ab).norm();
}

}  // namespace

double signed_distance(const Primitive& primitive, const Eigen::Vector3d& world) {
  const Eigen::Vector3d p = primitive.to_local(world);
  const Eigen::Vector3d& s = primitive.size;
  // The solids of revolution about local z are 2D profiles in (rho, z), rho = distance from the axis.
  const Eigen::Vector2d q(std::hypot(p.x(), p.y()), p.z());
  switch (primitive.kind) {
    case PrimitiveKind::Sphere:
      return p.norm() - s.x();
    case PrimitiveKind::Hemisphere: {
      // Boundary: the dome (the arc |q| = r, z >= 0) and the disc (z = 0, rho <= r).
      const Eigen::Vector2d rim(s.x(), 0.0);
      const double arc = q.y() >= 0 ? std::fabs(q.norm() - s.x()) : (q - rim).norm();
      const double disc = segment_distance(q, Eigen::Vector2d::Zero(), rim);
      const bool inside = q.y() >= 0 && q.norm() <= s.x();
      return inside ? -std::min(arc, disc) : std::min(arc, disc);
    }
    case PrimitiveKind::Box: {
      const Eigen::Vector3d d = p.cwiseAbs() - s;
      return d.cwiseMax(0.0).norm() + std::min(d.maxCoeff(), 0.0);
    }
    case PrimitiveKind::Cylinder: {
      const Eigen::Vector2d d(q.x() - s.x(), std::fabs(q.y() - 0.5 * s.z()) - 0.5 * s.z());
      return d.cwiseMax(0.0).norm() + std::min(d.maxCoeff(), 0.0);
    }
    case PrimitiveKind::Cone: {
      // Profile: the triangle (0,0), (R,0), (0,h); its surface is the base and the slant.
      const Eigen::Vector2d base(s.x(), 0.0), apex(0.0, s.z());
      const double d = std::min(segment_distance(q, Eigen::Vector2d::Zero(), base), segment_distance(q, base, apex));
      const bool inside = q.y() >= 0 && q.y() <= s.z() && q.x() <= s.x() * (1.0 - q.y() / s.z());
      return inside ? -d : d;
    }
    case PrimitiveKind::Torus:
      return Eigen::Vector2d(q.x() - s.x(), q.y()).norm() - s.y();
  }
  return 0.0;
}

Primitive Primitive::placed(const Eigen::Vector3d& translation, double parent_yaw) const {
  Primitive out = *this;
  out.center = yaw_matrix(parent_yaw) * center + translation;
  out.yaw = yaw + parent_yaw;
  return out;
}

TriangleMesh tessellate(const Primitive& primitive, int segments) {
  SEMFIELD_ASSERT(segments >= 8, "too few tessellation segments");
  const Eigen::Vector3d& s = primitive.size;
  MeshBuilder builder;
  switch (primitive.kind) {
    case PrimitiveKind::Sphere:
      add_sphere_cap(builder, s.x(), kPi, segments / 2, segments);
      break;
    case PrimitiveKind::Hemisphere:
      add_sphere_cap(builder, s.x(), kPi / 2, segments / 4, segments);
      builder.disc(0.0, s.x(), false, segments);
      break;
    case PrimitiveKind::Box:
      add_box(builder, s);
      break;
    case PrimitiveKind::Cylinder:
      // Rows run top to bottom so that d/drow x d/dphi points outward.
      builder.grid(1, segments, [&](int i, int j, Eigen::Vector3d* p, Eigen::Vector3d* n) {
        const double phi = 2 * kPi * j / segments;
        *n = Eigen::Vector3d(std::cos(phi), std::sin(phi), 0);
        *p = Eigen::Vector3d(s.x() * n->x(), s.x() * n->y(), i == 0 ? s.z() : 0.0);
      });
      builder.disc(s.z(), s.x(), true, segments);
      builder.disc(0.0, s.x(), false, segments);
      break;
    case PrimitiveKind::Cone: {
      // Side normals are constant along a generator line: (h cos phi, h sin phi, r) normalised.
      const int rows = 4;
      builder.grid(rows, segments, [&](int i, int j, Eigen::Vector3d* p, Eigen::Vector3d* n) {
        const double phi = 2 * kPi * j / segments, t = static_cast<double>(i) / rows;
        *n = Eigen::Vector3d(s.z() * std::cos(phi), s.z() * std::sin(phi), s.x()).normalized();
        *p = Eigen::Vector3d(t * s.x() * std::cos(phi), t * s.x() * std::sin(phi), (1 - t) * s.z());
      });
      builder.disc(0.0, s.x(), false, segments);
      break;
    }
    case PrimitiveKind::Torus: {
      // Rows run along the major circle, columns around the tube: d/du x d/dv points outward.
      const int tube = std::max(8, segments / 2);
      builder.grid(segments, tube, [&](int i, int j, Eigen::Vector3d* p, Eigen::Vector3d* n) {
        const double u = 2 * kPi * i / segments, v = 2 * kPi * j / tube;
        *n = Eigen::Vector3d(std::cos(v) * std::cos(u), std::cos(v) * std::sin(u), std::sin(v));
        const double ring = s.x() + s.y() * std::cos(v);
        *p = Eigen::Vector3d(ring * std::cos(u), ring * std::sin(u), s.y() * std::sin(v));
      });
      break;
    }
  }
  return builder.finish(primitive);
}

Eigen::AlignedBox3d mesh_bounds(const TriangleMesh& mesh) {
  Eigen::AlignedBox3d box;
  for (const auto& p : mesh.positions) box.extend(p.cast<double>());
  return box;
}

ShapeParts make_shape(ShapeType type, double size, const Material& primary, const Material& secondary,
                      SynthRng& rng) {
  ShapeParts out;
  auto add = [&](PrimitiveKind kind, const Eigen::Vector3d& center, const Eigen::Vector3d& dims,
                 const Material& material) {
    Primitive p;
    p.kind = kind;
    p.center = center;
    p.size = dims;
    p.material = material;
    // Each part gets its own noise/dot lattice so repeated parts (table legs) do not look stamped.
    p.material.seed = splitmix64_finalize(material.seed + out.parts.size());
    out.parts.push_back(p);
  };
  switch (type) {
    case ShapeType::Sphere: {
      const double r = size * rng.uniform(0.75, 1.0);
      add(PrimitiveKind::Sphere, {0, 0, r}, {r, r, r}, primary);
      out.footprint = r;
      out.height = 2 * r;
      break;
    }
    case ShapeType::Box: {
      const double hx = size * rng.uniform(0.5, 0.7), hy = size * rng.uniform(0.5, 0.7);
      const double hz = size * rng.uniform(0.35, 0.8);
      add(PrimitiveKind::Box, {0, 0, hz}, {hx, hy, hz}, primary);
      out.footprint = std::hypot(hx, hy);
      out.height = 2 * hz;
      break;
    }
    case ShapeType::Cylinder: {
      const double r = size * rng.uniform(0.6, 0.9), h = size * rng.uniform(1.0, 2.2);
      add(PrimitiveKind::Cylinder, {0, 0, 0}, {r, r, h}, primary);
      out.footprint = r;
      out.height = h;
      break;
    }
    case ShapeType::Cone: {
      const double r = size * rng.uniform(0.7, 1.0), h = size * rng.uniform(1.4, 2.4);
      add(PrimitiveKind::Cone, {0, 0, 0}, {r, r, h}, primary);
      out.footprint = r;
      out.height = h;
      break;
    }
    case ShapeType::Torus: {
      const double minor = size * rng.uniform(0.22, 0.32), major = size * rng.uniform(0.62, 0.72);
      add(PrimitiveKind::Torus, {0, 0, minor}, {major, minor, minor}, primary);
      out.footprint = major + minor;
      out.height = 2 * minor;
      break;
    }
    case ShapeType::Snowman: {
      const double r1 = size * rng.uniform(0.75, 0.95), r2 = r1 * rng.uniform(0.55, 0.7);
      // The head sinks 30 % of its radius into the body, as a snowman's would.
      add(PrimitiveKind::Sphere, {0, 0, r1}, {r1, r1, r1}, primary);
      add(PrimitiveKind::Sphere, {0, 0, 2 * r1 + 0.7 * r2}, {r2, r2, r2}, primary);
      out.footprint = r1;
      out.height = 2 * r1 + 1.7 * r2;
      break;
    }
    case ShapeType::Mushroom: {
      const double stem_r = size * rng.uniform(0.25, 0.35), stem_h = size * rng.uniform(0.7, 1.1);
      const double cap_r = size * rng.uniform(0.8, 1.0);
      add(PrimitiveKind::Cylinder, {0, 0, 0}, {stem_r, stem_r, stem_h}, secondary);
      add(PrimitiveKind::Hemisphere, {0, 0, stem_h}, {cap_r, cap_r, cap_r}, primary);
      out.footprint = cap_r;
      out.height = stem_h + cap_r;
      break;
    }
    case ShapeType::Table: {
      const double hx = size * rng.uniform(0.5, 0.7), hy = size * rng.uniform(0.5, 0.7);
      const double height = size * rng.uniform(0.8, 1.2), thick = 0.12 * size, leg = 0.07 * size;
      add(PrimitiveKind::Box, {0, 0, height - thick / 2}, {hx, hy, thick / 2}, primary);
      const double leg_h = (height - thick) / 2;
      for (int sx = -1; sx <= 1; sx += 2)
        for (int sy = -1; sy <= 1; sy += 2)
          add(PrimitiveKind::Box, {sx * (hx - 1.5 * leg), sy * (hy - 1.5 * leg), leg_h}, {leg, leg, leg_h},
              primary);
      out.footprint = std::hypot(hx, hy);
      out.height = height;
      break;
    }
    // The held-out shapes (--novel-shapes).
    case ShapeType::Capsule: {  // an upright pill: a cylinder between two half spheres
      const double r = size * rng.uniform(0.4, 0.6), h = size * rng.uniform(0.6, 1.4);
      add(PrimitiveKind::Sphere, {0, 0, r}, {r, r, r}, primary);
      add(PrimitiveKind::Cylinder, {0, 0, r}, {r, r, h}, primary);
      add(PrimitiveKind::Hemisphere, {0, 0, r + h}, {r, r, r}, primary);
      out.footprint = r;
      out.height = 2 * r + h;
      break;
    }
    case ShapeType::Lamp: {  // a flat round base, a thin pole and a conical shade
      const double base_r = size * rng.uniform(0.5, 0.7), base_h = 0.1 * size;
      const double pole_r = 0.07 * size, pole_h = size * rng.uniform(0.9, 1.4);
      const double shade_r = size * rng.uniform(0.55, 0.8), shade_h = size * rng.uniform(0.5, 0.8);
      add(PrimitiveKind::Cylinder, {0, 0, 0}, {base_r, base_r, base_h}, secondary);
      add(PrimitiveKind::Cylinder, {0, 0, base_h}, {pole_r, pole_r, pole_h}, secondary);
      add(PrimitiveKind::Cone, {0, 0, base_h + pole_h - 0.3 * shade_h}, {shade_r, shade_r, shade_h}, primary);
      out.footprint = std::max(base_r, shade_r);
      out.height = base_h + pole_h + 0.7 * shade_h;
      break;
    }
    case ShapeType::Hoop: {  // a ring standing on edge in a block
      const double minor = size * rng.uniform(0.12, 0.18), major = size * rng.uniform(0.6, 0.8);
      const double block = 0.25 * size;
      add(PrimitiveKind::Box, {0, 0, block / 2}, {0.6 * major, 1.6 * minor, block / 2}, secondary);
      add(PrimitiveKind::Torus, {0, 0, major + minor}, {major, minor, minor}, primary);
      out.parts.back().pitch = kPi / 2;  // the ring's plane is vertical (local xz after the pitch)
      out.footprint = major + minor;
      out.height = 2 * (major + minor);
      break;
    }
    case ShapeType::Tower: {  // three stacked blocks, each smaller and turned
      double z = 0, half = size * rng.uniform(0.55, 0.7);
      for (int level = 0; level < 3; ++level) {
        const double hz = size * rng.uniform(0.18, 0.3);
        add(PrimitiveKind::Box, {0, 0, z + hz}, {half, half, hz}, primary);
        out.parts.back().yaw = level * rng.uniform(0.3, 0.6);
        z += 2 * hz;
        half *= rng.uniform(0.65, 0.8);
      }
      out.footprint = std::sqrt(2.0) * size * 0.7;
      out.height = z;
      break;
    }
    case ShapeType::Rocket: {  // a slim cylinder with a cone on top and a ring of fins (boxes)
      const double r = size * rng.uniform(0.28, 0.38), h = size * rng.uniform(1.0, 1.5);
      const double nose = size * rng.uniform(0.5, 0.8);
      add(PrimitiveKind::Cylinder, {0, 0, 0}, {r, r, h}, primary);
      add(PrimitiveKind::Cone, {0, 0, h}, {r, r, nose}, primary);
      for (int k = 0; k < 3; ++k) {
        const double a = 2 * kPi * k / 3;
        add(PrimitiveKind::Box, {1.5 * r * std::cos(a), 1.5 * r * std::sin(a), 0.25 * h},
            {0.5 * r, 0.06 * size, 0.25 * h}, secondary);
        out.parts.back().yaw = a;
      }
      out.footprint = 2 * r + 0.06 * size;  // the fins' outer corners
      out.height = h + nose;
      break;
    }
  }
  return out;
}

}  // namespace semfield::synth
