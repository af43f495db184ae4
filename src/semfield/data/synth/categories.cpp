// The parametric categories: chair, table, mug, lamp and airplane built from primitives, their parts and keypoints.
#include "semfield/data/synth/categories.h"

#include "semfield/data/synth/synth_scene.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"

namespace semfield::synth {

namespace {

using Vec3 = Eigen::Vector3d;

// A material with its own hue, value and pattern; `scale` is the object's size (patterns scale with it).
Material cat_material(SynthRng& rng, double scale) {
  Material m;
  const double hue = rng.uniform(), s = rng.uniform(0.15, 0.85), v = rng.uniform(0.35, 0.95);
  m.color_a = hsv_to_rgb(hue, s, v);
  m.color_b = rng.uniform() < 0.5 ? hsv_to_rgb(hue + rng.uniform(-0.1, 0.1), 0.3 * s, std::min(1.0, v + 0.2))
                                  : hsv_to_rgb(hue, s, 0.45 * v);
  const double kind = rng.uniform();
  m.texture = kind < 0.4    ? TextureKind::Solid
              : kind < 0.55 ? TextureKind::Stripes
              : kind < 0.7  ? TextureKind::Checker
              : kind < 0.85 ? TextureKind::Dots
                            : TextureKind::Noise;
  m.period = scale * (m.texture == TextureKind::Noise ? rng.uniform(0.15, 0.35) : rng.uniform(0.05, 0.14));
  const Vec3 axes[3] = {Vec3(0, 0, 1), Vec3(1, 0, 1).normalized(), Vec3(0, 1, 2).normalized()};
  m.axis = axes[rng.index(3)];
  m.offset = Vec3(rng.uniform(0, m.period), rng.uniform(0, m.period), rng.uniform(0, m.period));
  m.seed = rng.next_u64();
  return m;
}

// Rotation about x by `pitch` (the part of Primitive::rotation applied first).
Eigen::Matrix3d cat_rx(double pitch) { return Eigen::AngleAxisd(pitch, Vec3::UnitX()).toRotationMatrix(); }

// Collects primitives, their parts and keypoints in a build frame, then normalises them (finish()).
class CatBuilder {
 public:
  CatBuilder(ObjectCategory category, SynthRng& rng, double scale) : m_rng(rng) {
    m_object.category = category;
    const int n_parts = static_cast<int>(category_part_names(category).size());
    // Sometimes one material dresses the whole object, otherwise each part has its own.
    const bool uniform = rng.uniform() < 0.3;
    const Material shared = cat_material(rng, scale);
    for (int p = 0; p < n_parts; ++p) m_materials.push_back(uniform ? shared : cat_material(rng, scale));
  }

  SynthRng& rng() { return m_rng; }
  const Material& material(int part) const { return m_materials[static_cast<size_t>(part - 1)]; }
  const Primitive& primitive(int index) const { return m_object.primitives[static_cast<size_t>(index)]; }

  int add(PrimitiveKind kind, const Vec3& center, const Vec3& size, int part, double yaw = 0.0, double pitch = 0.0,
          const Material* material = nullptr) {
    SEMFIELD_ASSERT(part >= 1 && part <= static_cast<int>(m_materials.size()), "part id out of range");
    Primitive p;
    p.kind = kind;
    p.center = center;
    p.size = size;
    p.yaw = yaw;
    p.pitch = pitch;
    p.material = material ? *material : m_materials[static_cast<size_t>(part - 1)];
    // Each primitive gets its own noise/dot lattice so repeated parts (legs) do not look stamped.
    p.material.seed = splitmix64_finalize(p.material.seed + m_object.primitives.size());
    m_object.primitives.push_back(p);
    m_object.part_ids.push_back(part);
    return static_cast<int>(m_object.primitives.size()) - 1;
  }

  // A cylinder (or square box) of radius r from a to b: local +z along b - a. Rz(yaw) Rx(pitch) e_z =
  // (sin(yaw) sin(pitch), -cos(yaw) sin(pitch), cos(pitch)).
  int segment(const Vec3& a, const Vec3& b, double r, int part, bool box = false) {
    const Vec3 d = (b - a).normalized();
    const double pitch = std::acos(std::clamp(d.z(), -1.0, 1.0));
    const double yaw = std::sin(pitch) < 1e-12 ? 0.0 : std::atan2(d.x(), -d.y());
    const double length = (b - a).norm();
    if (box) return add(PrimitiveKind::Box, 0.5 * (a + b), {r, r, 0.5 * length}, part, yaw, pitch);
    return add(PrimitiveKind::Cylinder, a, {r, r, length}, part, yaw, pitch);
  }

  // A keypoint given in the primitive's local frame.
  void keypoint(const std::string& name, int primitive, const Vec3& local) {
    const auto& names = category_keypoint_names(m_object.category);
    SEMFIELD_ASSERT(std::find(names.begin(), names.end(), name) != names.end(), "undeclared keypoint name");
    m_object.keypoints.push_back({name, this->primitive(primitive).to_world(local),
                                  m_object.part_ids[static_cast<size_t>(primitive)], primitive});
  }

  // Centres the tessellated bounding box at the origin and scales its longest edge to 1; keypoints, sizes and
  // texture periods scale along, so every keypoint stays on its surface. Keypoints follow the declared order.
  CategoryObject finish() {
    Eigen::AlignedBox3d box;
    for (const auto& p : m_object.primitives) box.extend(mesh_bounds(tessellate(p, kCategorySegments)));
    const Vec3 centre = box.center();
    const double scale = 1.0 / box.sizes().maxCoeff();
    for (auto& p : m_object.primitives) {
      p.center = scale * (p.center - centre);
      p.size *= scale;
      p.material.period *= scale;
      p.material.offset *= scale;
    }
    for (auto& k : m_object.keypoints) k.position = scale * (k.position - centre);
    const auto& names = category_keypoint_names(m_object.category);
    std::stable_sort(m_object.keypoints.begin(), m_object.keypoints.end(),
                     [&](const CategoryKeypoint& a, const CategoryKeypoint& b) {
                       return std::find(names.begin(), names.end(), a.name) <
                              std::find(names.begin(), names.end(), b.name);
                     });
    return m_object;
  }

 private:
  SynthRng& m_rng;
  CategoryObject m_object;
  std::vector<Material> m_materials;
};

// The four diagonal directions and their keypoint prefixes/suffixes: left = -x, front = -y.
struct CatCorner {
  double sx, sy;
  const char* side;   // "left" / "right"
  const char* depth;  // "front" / "back"
};
constexpr CatCorner kCatCorners[4] = {
    {-1, -1, "left", "front"}, {1, -1, "right", "front"}, {-1, 1, "left", "back"}, {1, 1, "right", "back"}};

// A leg from foot (on z = 0) to top; its foot keypoint is the point of the bottom rim (cylinder) or bottom
// corner (box) farthest out along `outward` (a horizontal unit vector).
void cat_leg(CatBuilder& b, const Vec3& foot, const Vec3& top, double r, bool box, int part, const Vec3& outward,
             const std::string& foot_name) {
  const int leg = b.segment(foot, top, r, part, box);
  const Vec3 local_out = b.primitive(leg).rotation().transpose() * outward;
  if (box) {
    const double hz = b.primitive(leg).size.z();
    b.keypoint(foot_name, leg, {local_out.x() >= 0 ? r : -r, local_out.y() >= 0 ? r : -r, -hz});
  } else {
    const Eigen::Vector2d dir = Eigen::Vector2d(local_out.x(), local_out.y()).normalized();
    b.keypoint(foot_name, leg, {r * dir.x(), r * dir.y(), 0.0});
  }
}

// Feet radiating from a pedestal along the diagonals (boxes on z = 0); a foot's keypoint is the bottom edge of
// its outer end.
void cat_star_feet(CatBuilder& b, double length, double half_width, double height, int part) {
  for (const auto& c : kCatCorners) {
    const double angle = std::atan2(c.sy, c.sx);
    const Vec3 dir(std::cos(angle), std::sin(angle), 0.0);
    const int foot = b.add(PrimitiveKind::Box, 0.5 * length * dir + Vec3(0, 0, 0.5 * height),
                           {0.5 * length, half_width, 0.5 * height}, part, angle);
    b.keypoint(fmt::format("{}_foot_{}", c.side, c.depth), foot, {0.5 * length, 0.0, -0.5 * height});
  }
}

// ---- chair: back 1, seat 2, leg 3, arm 4 ----

CategoryObject cat_build_chair(SynthRng& rng) {
  enum { kBack = 1, kSeat = 2, kLeg = 3, kArm = 4 };
  CatBuilder b(ObjectCategory::Chair, rng, 1.0);
  const double hx = 0.5 * rng.uniform(0.38, 0.62), hy = 0.5 * rng.uniform(0.36, 0.58);
  const double h = rng.uniform(0.36, 0.52), t = rng.uniform(0.025, 0.08);
  const int seat = b.add(PrimitiveKind::Box, {0, 0, h - 0.5 * t}, {hx, hy, 0.5 * t}, kSeat);
  for (const auto& c : kCatCorners)
    b.keypoint(fmt::format("{}_seat_{}", c.side, c.depth), seat, {c.sx * hx, c.sy * hy, 0.5 * t});

  // Back: boxes in a frame at the seat's rear bottom edge, reclined about x (pitch < 0 leans the top to +y).
  const double back_height = rng.uniform(0.28, 0.6), bt = rng.uniform(0.02, 0.05);
  const double pitch = -rng.uniform(0.0, 18.0) * kDegree;
  const double top = t + back_height;  // along the back, from the seat's bottom
  const Vec3 origin(0, hy, h - t);
  const Eigen::Matrix3d tilt = cat_rx(pitch);
  auto back_box = [&](double x0, double x1, double z0, double z1) {
    return b.add(PrimitiveKind::Box, origin + tilt * Vec3(0.5 * (x0 + x1), 0.5 * bt, 0.5 * (z0 + z1)),
                 {0.5 * (x1 - x0), 0.5 * bt, 0.5 * (z1 - z0)}, kBack, 0.0, pitch);
  };
  int top_box;
  const double back_style = rng.uniform();
  if (back_style < 0.45) {
    top_box = back_box(-hx, hx, 0, top);
  } else {
    // Slatted: two posts, a top rail, and horizontal or vertical slats between the posts.
    const double post = rng.uniform(0.025, 0.05), rail = rng.uniform(0.04, 0.1);
    back_box(-hx, -hx + post, 0, top - rail);
    back_box(hx - post, hx, 0, top - rail);
    top_box = back_box(-hx, hx, top - rail, top);
    const double z0 = t + 0.05, z1 = top - rail;
    if (back_style < 0.75) {
      const int n = 1 + rng.index(3);
      const double slat = std::min(0.05, 0.5 * (z1 - z0) / n);
      for (int k = 0; k < n; ++k) {
        const double zc = z0 + (z1 - z0) * (k + 0.5) / (n + 0.5);
        back_box(-hx + post, hx - post, zc - 0.5 * slat, zc + 0.5 * slat);
      }
    } else {
      const int n = 2 + rng.index(4);
      const double gap = (2 * hx - 2 * post) / n, slat = gap * rng.uniform(0.3, 0.6);
      for (int k = 0; k < n; ++k) {
        const double xc = -hx + post + gap * (k + 0.5);
        back_box(xc - 0.5 * slat, xc + 0.5 * slat, t, z1);
      }
    }
  }
  const Primitive& top_prim = b.primitive(top_box);
  for (const double sx : {-1.0, 1.0})
    b.keypoint(sx < 0 ? "left_back_top" : "right_back_top", top_box,
               {sx * hx, -0.5 * bt, top_prim.size.z()});

  // Legs: four at the corners (cylinders or boxes, sometimes splayed) or a pedestal on four feet.
  if (rng.uniform() < 0.75) {
    const bool box = rng.uniform() < 0.5;
    const double r = rng.uniform(0.014, 0.032), inset = r + rng.uniform(0.0, 0.03);
    const double splay = rng.uniform() < 0.5 ? rng.uniform(0.0, 0.06) : 0.0;
    for (const auto& c : kCatCorners) {
      const Vec3 top_point(c.sx * (hx - inset), c.sy * (hy - inset), h - t);
      const Vec3 foot(top_point.x(), top_point.y() + c.sy * splay, 0.0);
      cat_leg(b, foot, top_point, r, box, kLeg, Vec3(c.sx, c.sy, 0).normalized(),
              fmt::format("{}_foot_{}", c.side, c.depth));
    }
  } else {
    const double foot_h = rng.uniform(0.025, 0.05), column = rng.uniform(0.022, 0.045);
    b.add(PrimitiveKind::Cylinder, {0, 0, 0.5 * foot_h}, {column, column, h - t - 0.5 * foot_h}, kLeg);
    cat_star_feet(b, rng.uniform(0.22, 0.34), rng.uniform(0.015, 0.03), foot_h, kLeg);
  }

  // Arms: an armrest on a post at each side.
  if (rng.uniform() < 0.45) {
    const double arm_h = rng.uniform(0.14, 0.26), aw = 0.5 * rng.uniform(0.03, 0.07), at = rng.uniform(0.02, 0.04);
    const double y0 = -hy + rng.uniform(-0.02, 0.06), post = 0.5 * rng.uniform(0.02, 0.04);
    const double post_y = std::max(y0, -hy) + 0.03 + post;
    for (const double sx : {-1.0, 1.0}) {
      const double x = sx * (hx - aw);
      const int rest = b.add(PrimitiveKind::Box, {x, 0.5 * (y0 + hy), h + arm_h - 0.5 * at},
                             {aw, 0.5 * (hy - y0), 0.5 * at}, kArm);
      b.add(PrimitiveKind::Box, {x, post_y, h + 0.5 * (arm_h - at)}, {std::min(aw, post), post, 0.5 * (arm_h - at)},
            kArm);
      b.keypoint(sx < 0 ? "left_arm_front" : "right_arm_front", rest, {0.0, -0.5 * (hy - y0), 0.5 * at});
    }
  }
  return b.finish();
}

// ---- table: top 1, leg 2, support 3 ----

CategoryObject cat_build_table(SynthRng& rng) {
  enum { kTop = 1, kLeg = 2, kSupport = 3 };
  CatBuilder b(ObjectCategory::Table, rng, 1.0);
  const double height = rng.uniform(0.45, 0.8), th = rng.uniform(0.02, 0.06);
  const bool round = rng.uniform() < 0.4;
  double hx = 0, hy = 0, radius = 0;
  if (round) {
    radius = rng.uniform(0.3, 0.6);
    const int top = b.add(PrimitiveKind::Cylinder, {0, 0, height - th}, {radius, radius, th}, kTop);
    // The rim points at the diagonals (multiples of 2 pi / 8: tessellation vertices).
    for (const auto& c : kCatCorners) {
      const double a = std::atan2(c.sy, c.sx);
      b.keypoint(fmt::format("{}_top_{}", c.side, c.depth), top, {radius * std::cos(a), radius * std::sin(a), th});
    }
  } else {
    hx = rng.uniform(0.35, 0.9);
    hy = rng.uniform(0.25, std::min(hx, 0.6));
    const int top = b.add(PrimitiveKind::Box, {0, 0, height - 0.5 * th}, {hx, hy, 0.5 * th}, kTop);
    for (const auto& c : kCatCorners)
      b.keypoint(fmt::format("{}_top_{}", c.side, c.depth), top, {c.sx * hx, c.sy * hy, 0.5 * th});
  }
  const double under = height - th;  // the top's underside
  const double style = rng.uniform();
  const bool four_legs = round ? style < 0.35 : style < 0.7;
  const bool tripod = round && style >= 0.35 && style < 0.6;
  if (four_legs) {
    const bool box = rng.uniform() < 0.5;
    const double r = rng.uniform(0.015, 0.04);
    std::vector<Vec3> tops;
    for (const auto& c : kCatCorners) {
      const Vec3 out = Vec3(c.sx, c.sy, 0).normalized();
      const Vec3 top = round ? Vec3(radius * rng.uniform(0.6, 0.72) * out)
                             : Vec3(c.sx * (hx - r - rng.uniform(0.01, 0.06)), c.sy * (hy - r - rng.uniform(0.01, 0.06)), 0);
      tops.push_back(Vec3(top.x(), top.y(), under));
      cat_leg(b, Vec3(top.x(), top.y(), 0.0), tops.back(), r, box, kLeg, out,
              fmt::format("{}_foot_{}", c.side, c.depth));
    }
    // Supports: stretchers low between the legs (a ring or an H), and/or aprons under the top.
    const double kind = rng.uniform();
    const double bar = r * rng.uniform(0.5, 0.8);
    auto bar_between = [&](const Vec3& a, const Vec3& c, double z, double half_height) {
      const Vec3 d = c - a;
      b.add(PrimitiveKind::Box, {0.5 * (a.x() + c.x()), 0.5 * (a.y() + c.y()), z},
            {0.5 * Eigen::Vector2d(d.x(), d.y()).norm(), bar, half_height}, kSupport, std::atan2(d.y(), d.x()));
    };
    // tops: 0 left-front, 1 right-front, 2 left-back, 3 right-back.
    if (kind < 0.3) {
      const double z = under * rng.uniform(0.12, 0.3);
      bar_between(tops[0], tops[1], z, bar);
      bar_between(tops[2], tops[3], z, bar);
      bar_between(tops[0], tops[2], z, bar);
      bar_between(tops[1], tops[3], z, bar);
    } else if (kind < 0.5) {
      const double z = under * rng.uniform(0.12, 0.3);
      bar_between(tops[0], tops[2], z, bar);
      bar_between(tops[1], tops[3], z, bar);
      bar_between(0.5 * (tops[0] + tops[2]), 0.5 * (tops[1] + tops[3]), z, bar);
    }
    if (rng.uniform() < 0.4) {
      const double apron = rng.uniform(0.03, 0.08);
      const double z = under - 0.5 * apron;
      bar_between(tops[0], tops[1], z, 0.5 * apron);
      bar_between(tops[2], tops[3], z, 0.5 * apron);
      bar_between(tops[0], tops[2], z, 0.5 * apron);
      bar_between(tops[1], tops[3], z, 0.5 * apron);
    }
  } else if (tripod) {
    const double r = rng.uniform(0.015, 0.035), foot_radius = radius * rng.uniform(0.55, 0.75);
    const double top_radius = foot_radius * rng.uniform(0.6, 1.0);
    const struct {
      double degrees;
      const char* name;
    } legs[3] = {{90.0, "foot_back"}, {210.0, "left_foot_front"}, {330.0, "right_foot_front"}};
    for (const auto& leg : legs) {
      const Vec3 out(std::cos(leg.degrees * kDegree), std::sin(leg.degrees * kDegree), 0.0);
      cat_leg(b, foot_radius * out, top_radius * out + Vec3(0, 0, under), r, false, kLeg, out, leg.name);
    }
  } else {
    // Pedestal: a column (leg) on a base (support) of four feet or a disc.
    const double column = rng.uniform(0.035, 0.09);
    const bool feet = rng.uniform() < 0.5;
    const double base_h = rng.uniform(0.02, 0.05);
    b.add(PrimitiveKind::Cylinder, {0, 0, 0.5 * base_h}, {column, column, under - 0.5 * base_h}, kLeg);
    const double reach = round ? radius : std::min(hx, hy);
    if (feet) {
      cat_star_feet(b, reach * rng.uniform(0.6, 0.9), rng.uniform(0.02, 0.04), base_h, kSupport);
    } else {
      const double disc = std::max(column * 2.0, reach * rng.uniform(0.45, 0.75));
      b.add(PrimitiveKind::Cylinder, {0, 0, 0}, {disc, disc, base_h}, kSupport);
    }
  }
  return b.finish();
}

// ---- mug: body 1, handle 2 (towards +x) ----

CategoryObject cat_build_mug(SynthRng& rng) {
  enum { kBody = 1, kHandle = 2 };
  CatBuilder b(ObjectCategory::Mug, rng, 1.0);
  const double r = rng.uniform(0.32, 0.5), h = rng.uniform(0.55, 1.1), m = r * rng.uniform(0.04, 0.08);
  // Body: a cylinder below a torus lip whose top is the rim (z = h), and a dark disc inside the lip, just
  // above the body's top face, so the mug looks open.
  const int body = b.add(PrimitiveKind::Cylinder, {0, 0, 0}, {r, r, h - m}, kBody);
  const int lip = b.add(PrimitiveKind::Torus, {0, 0, h - m}, {r - m, m, m}, kBody);
  Material inside = b.material(kBody);
  inside.color_a *= 0.3;
  inside.color_b *= 0.3;
  inside.texture = TextureKind::Solid;
  b.add(PrimitiveKind::Cylinder, {0, 0, h - m - 0.01 * h}, {r - m, r - m, 0.01 * h + 0.3 * m}, kBody, 0.0, 0.0, &inside);
  b.keypoint("rim_front", lip, {0, -(r - m), m});
  b.keypoint("rim_back", lip, {0, r - m, m});
  b.keypoint("left_rim", lip, {-(r - m), 0, m});
  b.keypoint("right_rim", lip, {r - m, 0, m});
  b.keypoint("base_front", body, {0, -r, 0});

  if (rng.uniform() < 0.6) {
    // A torus stood up in the xz plane (pitch 90 degrees maps local (a, b, 0) to (a, 0, b)), its inner part
    // sunk into the body.
    const double tube = r * rng.uniform(0.08, 0.16);
    const double zc = h * rng.uniform(0.42, 0.55);
    const double major = std::max(2.0 * tube, std::min({h * rng.uniform(0.2, 0.34), h - m - zc - tube - 0.04 * h,
                                                        zc - tube - 0.04 * h}));
    const int handle = b.add(PrimitiveKind::Torus, {r - 0.35 * major, 0, zc}, {major, tube, tube}, kHandle, 0.0,
                             kPi / 2);
    const double out = major + tube, a = 55.0 * kDegree;
    b.keypoint("handle_top", handle, {out * std::cos(a), out * std::sin(a), 0});
    b.keypoint("handle_bottom", handle, {out * std::cos(a), -out * std::sin(a), 0});
    b.keypoint("handle_outer", handle, {out, 0, 0});
  } else {
    // Two arms out of the body and a vertical bar joining them.
    const double ab = r * rng.uniform(0.07, 0.12), reach = r * rng.uniform(0.45, 0.8), hw = r * rng.uniform(0.08, 0.15);
    const double z_top = h * rng.uniform(0.7, 0.82), z_bottom = h * rng.uniform(0.18, 0.35);
    const double x0 = 0.9 * r, x1 = r + reach;
    for (const double z : {z_top, z_bottom})
      b.add(PrimitiveKind::Box, {0.5 * (x0 + x1 - ab), 0, z}, {0.5 * (x1 - ab - x0), hw, ab}, kHandle);
    const int bar = b.add(PrimitiveKind::Box, {x1 - ab, 0, 0.5 * (z_top + z_bottom)},
                          {ab, hw, 0.5 * (z_top - z_bottom) + ab}, kHandle);
    const double hz = 0.5 * (z_top - z_bottom) + ab;
    b.keypoint("handle_top", bar, {ab, 0, hz});
    b.keypoint("handle_bottom", bar, {ab, 0, -hz});
    b.keypoint("handle_outer", bar, {ab, 0, 0});
  }
  return b.finish();
}

// ---- lamp: base 1, stem 2, shade 3 ----

CategoryObject cat_build_lamp(SynthRng& rng) {
  enum { kBase = 1, kStem = 2, kShade = 3 };
  CatBuilder b(ObjectCategory::Lamp, rng, 1.0);
  const double base_style = rng.uniform();
  double z0;  // where the stem starts (inside the base)
  if (base_style < 0.5) {
    const double rb = rng.uniform(0.12, 0.22), hb = rng.uniform(0.02, 0.06);
    const int base = b.add(PrimitiveKind::Cylinder, {0, 0, 0}, {rb, rb, hb}, kBase);
    b.keypoint("base_front", base, {0, -rb, hb});
    b.keypoint("base_back", base, {0, rb, hb});
    z0 = hb;
  } else if (base_style < 0.75) {
    const double bx = rng.uniform(0.1, 0.2), by = rng.uniform(0.1, 0.2), bz = 0.5 * rng.uniform(0.02, 0.06);
    const int base = b.add(PrimitiveKind::Box, {0, 0, bz}, {bx, by, bz}, kBase);
    b.keypoint("base_front", base, {0, -by, bz});
    b.keypoint("base_back", base, {0, by, bz});
    z0 = 2 * bz;
  } else {
    const double rb = rng.uniform(0.1, 0.18);
    const int base = b.add(PrimitiveKind::Hemisphere, {0, 0, 0}, {rb, rb, rb}, kBase);
    b.keypoint("base_front", base, {0, -rb, 0});
    b.keypoint("base_back", base, {0, rb, 0});
    z0 = 0.9 * rb;
  }
  z0 -= 0.005;  // sink the stem into the base

  // Stem: straight, or bent (a vertical segment, an arm pitched forward with joints, and a short vertical end).
  const double rs = rng.uniform(0.008, 0.02);
  const bool bent = rng.uniform() < 0.5;
  Vec3 end_bottom(0, 0, z0);
  double end_length;
  if (bent) {
    const Vec3 p1(0, 0, z0 + rng.uniform(0.12, 0.35));
    b.segment(end_bottom, p1, rs, kStem);
    const double a = rng.uniform(25.0, 65.0) * kDegree, length = rng.uniform(0.2, 0.4);
    const Vec3 p2 = p1 + length * Vec3(0, -std::sin(a), std::cos(a));
    b.add(PrimitiveKind::Sphere, p1, Vec3::Constant(1.6 * rs), kStem);
    b.segment(p1, p2, rs, kStem);
    b.add(PrimitiveKind::Sphere, p2, Vec3::Constant(1.6 * rs), kStem);
    end_bottom = p2;
    // Long enough that stem_top (1.5 rs below the shade) clears the joint sphere.
    end_length = rng.uniform(0.08, 0.14) + 6.0 * rs;
  } else {
    end_length = rng.uniform(0.35, 0.7);
  }
  const int end = b.segment(end_bottom, end_bottom + Vec3(0, 0, end_length), rs, kStem);

  // Shade: a cone, cylinder or hemisphere around the stem's end (the stem enters it from below); on bent lamps
  // tilted so its opening faces down and forward.
  const double shade_style = rng.uniform();
  const double R = rng.uniform(0.12, 0.25);
  const PrimitiveKind kind = shade_style < 0.4   ? PrimitiveKind::Cone
                             : shade_style < 0.7 ? PrimitiveKind::Cylinder
                                                 : PrimitiveKind::Hemisphere;
  const double shade_h = kind == PrimitiveKind::Hemisphere ? R : rng.uniform(0.12, 0.3);
  const double sunk = std::min(0.4 * end_length, 0.5 * shade_h);
  const double tilt = bent ? -rng.uniform(0.0, 20.0) * kDegree : 0.0;
  const int shade = b.add(kind, end_bottom + Vec3(0, 0, end_length - sunk), {R, R, shade_h}, kShade, 0.0, tilt);
  b.keypoint("stem_top", end, {0, -rs, end_length - sunk - 1.5 * rs});
  b.keypoint("shade_top", shade, {0, 0, shade_h});
  b.keypoint("left_shade_rim", shade, {-R, 0, 0});
  b.keypoint("right_shade_rim", shade, {R, 0, 0});
  b.keypoint("shade_rim_front", shade, {0, -R, 0});
  return b.finish();
}

// ---- airplane: fuselage 1, wing 2, tail 3, engine 4; nose towards -y ----

CategoryObject cat_build_airplane(SynthRng& rng) {
  enum { kFuselage = 1, kWing = 2, kTail = 3, kEngine = 4 };
  CatBuilder b(ObjectCategory::Airplane, rng, 3.0);
  const double L = rng.uniform(2.2, 3.6), rf = rng.uniform(0.13, 0.24);
  // pitch 90 degrees points a primitive's local +z along -y (forward), -90 along +y.
  b.add(PrimitiveKind::Cylinder, {0, 0.5 * L, 0}, {rf, rf, L}, kFuselage, 0.0, kPi / 2);
  const bool cone_nose = rng.uniform() < 0.5;
  const double nose_length = cone_nose ? rf * rng.uniform(1.0, 2.5) : rf;
  const int nose = b.add(cone_nose ? PrimitiveKind::Cone : PrimitiveKind::Hemisphere, {0, -0.5 * L, 0},
                         {rf, rf, nose_length}, kFuselage, 0.0, kPi / 2);
  b.keypoint("nose", nose, {0, 0, nose_length});
  const double tail_length = rf * rng.uniform(1.5, 3.5);
  const int tail_cone = b.add(PrimitiveKind::Cone, {0, 0.5 * L, 0}, {rf, rf, tail_length}, kFuselage, 0.0,
                              -rng.uniform(75.0, 90.0) * kDegree);
  b.keypoint("tail_end", tail_cone, {0, 0, tail_length});

  // A pair of swept boxes whose roots meet on the fuselage axis; the tips' keypoints are the middle of the top
  // outer edge. The sweep is limited so the roots stay inside the fuselage.
  auto wing_pair = [&](const Vec3& root, double span, double chord, double half_thickness, double sweep, int part,
                       const char* name) {
    sweep = std::min(sweep, std::asin(std::min(1.0, 1.4 * rf / chord)));
    std::array<int, 2> ids{};
    for (const double s : {-1.0, 1.0}) {
      const double yaw = s * sweep;
      const Vec3 centre = root + Vec3(s * std::cos(yaw) * 0.5 * span, s * std::sin(yaw) * 0.5 * span, 0.0);
      const int id = b.add(PrimitiveKind::Box, centre, {0.5 * span, 0.5 * chord, half_thickness}, part, yaw);
      b.keypoint(fmt::format("{}_{}", s < 0 ? "left" : "right", name), id, {s * 0.5 * span, 0.0, half_thickness});
      ids[s < 0 ? 0 : 1] = id;
    }
    return ids;
  };
  const double wing_z = rf * std::array<double, 3>{-0.55, 0.0, 0.6}[static_cast<size_t>(rng.index(3))];
  const double span = L * rng.uniform(0.45, 0.7), chord = L * rng.uniform(0.1, 0.2);
  const double wing_t = 0.5 * chord * rng.uniform(0.06, 0.12), sweep = rng.uniform(0.0, 35.0) * kDegree;
  const Vec3 wing_root(0, -0.5 * L + L * rng.uniform(0.38, 0.5), wing_z);
  const auto wings = wing_pair(wing_root, span, chord, wing_t, sweep, kWing, "wing_tip");

  // Engines under the wings: none, one or two per side.
  const double engine_choice = rng.uniform();
  const int per_side = engine_choice < 0.25 ? 0 : engine_choice < 0.75 ? 1 : 2;
  const double re = rf * rng.uniform(0.35, 0.6), le = chord * rng.uniform(0.7, 1.2);
  for (int k = 0; k < per_side; ++k) {
    const Primitive& right_wing = b.primitive(wings[1]);
    const double wing_sweep = right_wing.yaw;
    const double min_fraction = (rf + 1.4 * re) / (span * std::cos(wing_sweep));
    const double fraction = std::max(min_fraction, per_side == 1 ? rng.uniform(0.3, 0.45)
                                                                 : (k == 0 ? rng.uniform(0.25, 0.35)
                                                                           : rng.uniform(0.55, 0.7)));
    const double ahead = le * rng.uniform(0.3, 0.5);
    for (const double s : {-1.0, 1.0}) {
      const double yaw = s * wing_sweep;
      const Vec3 station = wing_root + fraction * span * Vec3(s * std::cos(yaw), s * std::sin(yaw), 0.0);
      const double front_y = station.y() - 0.5 * chord * std::cos(wing_sweep) - ahead;
      const double axis_z = wing_z - wing_t - re + std::min(0.2 * re, wing_t);
      const int engine = b.add(PrimitiveKind::Cylinder, {station.x(), front_y + le, axis_z}, {re, re, le}, kEngine,
                               0.0, kPi / 2);
      const std::string side = s < 0 ? "left" : "right";
      b.keypoint(k == 0 ? side + "_engine_front" : side + "_outer_engine_front", engine, {0, 0, le});
    }
  }

  // Tail: a fin leaning back, with stabilisers at the fuselage (conventional) or on the fin's top (T-tail).
  const double lean = rng.uniform(10.0, 40.0) * kDegree, fin_h = rf * rng.uniform(1.5, 3.0);
  const double fin_chord = std::min(L * rng.uniform(0.1, 0.18), 1.5 * rf / std::sin(lean));
  const double fin_t = 0.5 * fin_chord * rng.uniform(0.06, 0.1);
  const Vec3 fin_base(0, 0.5 * L - 0.6 * fin_chord, 0);
  const int fin = b.add(PrimitiveKind::Box, fin_base + cat_rx(-lean) * Vec3(0, 0, 0.5 * fin_h),
                        {fin_t, 0.5 * fin_chord, 0.5 * fin_h}, kTail, 0.0, -lean);
  const double stab_span = L * rng.uniform(0.15, 0.25), stab_chord = L * rng.uniform(0.07, 0.12);
  const double stab_t = 0.5 * stab_chord * rng.uniform(0.06, 0.1);
  if (rng.uniform() < 0.65) {
    b.keypoint("fin_top", fin, {0, 0, 0.5 * fin_h});
    const Vec3 root(0, 0.5 * L - 0.7 * stab_chord, rf * rng.uniform(-0.2, 0.4));
    wing_pair(root, stab_span, stab_chord, stab_t, rng.uniform(0.0, 30.0) * kDegree, kTail, "stabilizer_tip");
  } else {
    const Vec3 fin_top = b.primitive(fin).to_world({0, 0, 0.5 * fin_h});
    const int stab = b.add(PrimitiveKind::Box, fin_top + Vec3(0, 0, stab_t - 0.2 * stab_t),
                           {stab_span, 0.5 * stab_chord, stab_t}, kTail);
    b.keypoint("fin_top", stab, {0, 0, stab_t});
    b.keypoint("left_stabilizer_tip", stab, {-stab_span, 0, stab_t});
    b.keypoint("right_stabilizer_tip", stab, {stab_span, 0, stab_t});
  }
  return b.finish();
}

}  // namespace

const std::vector<ObjectCategory>& all_categories() {
  static const std::vector<ObjectCategory> all = {ObjectCategory::Chair, ObjectCategory::Table, ObjectCategory::Mug,
                                                  ObjectCategory::Lamp, ObjectCategory::Airplane};
  return all;
}

const char* category_name(ObjectCategory category) {
  switch (category) {
    case ObjectCategory::Chair: return "chair";
    case ObjectCategory::Table: return "table";
    case ObjectCategory::Mug: return "mug";
    case ObjectCategory::Lamp: return "lamp";
    case ObjectCategory::Airplane: return "airplane";
  }
  return "?";
}

ObjectCategory parse_category(const std::string& name) {
  std::vector<std::string> names;
  for (const ObjectCategory category : all_categories()) {
    if (name == category_name(category)) return category;
    names.emplace_back(category_name(category));
  }
  fail_usage("--category: unknown category '{}' (available: {})", name, fmt::join(names, ", "));
}

const std::vector<std::string>& category_part_names(ObjectCategory category) {
  static const std::vector<std::string> chair = {"back", "seat", "leg", "arm"};
  static const std::vector<std::string> table = {"top", "leg", "support"};
  static const std::vector<std::string> mug = {"body", "handle"};
  static const std::vector<std::string> lamp = {"base", "stem", "shade"};
  static const std::vector<std::string> airplane = {"fuselage", "wing", "tail", "engine"};
  switch (category) {
    case ObjectCategory::Chair: return chair;
    case ObjectCategory::Table: return table;
    case ObjectCategory::Mug: return mug;
    case ObjectCategory::Lamp: return lamp;
    case ObjectCategory::Airplane: return airplane;
  }
  return chair;
}

const std::vector<std::string>& category_keypoint_names(ObjectCategory category) {
  static const std::vector<std::string> chair = {
      "left_seat_front", "right_seat_front", "left_seat_back",  "right_seat_back",  "left_back_top",
      "right_back_top",  "left_foot_front",  "right_foot_front", "left_foot_back", "right_foot_back",
      "left_arm_front",  "right_arm_front"};
  static const std::vector<std::string> table = {"left_top_front",  "right_top_front", "left_top_back",
                                                 "right_top_back",  "left_foot_front", "right_foot_front",
                                                 "left_foot_back",  "right_foot_back", "foot_back"};
  static const std::vector<std::string> mug = {"rim_front",  "rim_back",      "left_rim",   "right_rim",
                                               "base_front", "handle_top", "handle_bottom", "handle_outer"};
  static const std::vector<std::string> lamp = {"base_front",     "base_back",       "stem_top",       "shade_top",
                                                "left_shade_rim", "right_shade_rim", "shade_rim_front"};
  static const std::vector<std::string> airplane = {
      "nose",        "tail_end",           "left_wing_tip",        "right_wing_tip",
      "fin_top",     "left_stabilizer_tip", "right_stabilizer_tip", "left_engine_front",
      "right_engine_front", "left_outer_engine_front", "right_outer_engine_front"};
  switch (category) {
    case ObjectCategory::Chair: return chair;
    case ObjectCategory::Table: return table;
    case ObjectCategory::Mug: return mug;
    case ObjectCategory::Lamp: return lamp;
    case ObjectCategory::Airplane: return airplane;
  }
  return chair;
}

CategoryObject make_category_object(ObjectCategory category, SynthRng& rng) {
  switch (category) {
    case ObjectCategory::Chair: return cat_build_chair(rng);
    case ObjectCategory::Table: return cat_build_table(rng);
    case ObjectCategory::Mug: return cat_build_mug(rng);
    case ObjectCategory::Lamp: return cat_build_lamp(rng);
    case ObjectCategory::Airplane: return cat_build_airplane(rng);
  }
  SEMFIELD_ASSERT(false, "unknown category");
  return {};
}

}  // namespace semfield::synth
