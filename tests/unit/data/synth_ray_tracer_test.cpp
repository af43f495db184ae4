// Tests for the synthetic ray tracer on a hand-built scene with known answers: a sphere above a table.
#include "semfield/data/synth/ray_tracer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "semfield/core/constants.h"

namespace {

using namespace semfield;
using namespace semfield::synth;

SynthObject object_of(int id, const std::string& name, int class_id, const Primitive& part) {
  SynthObject object;
  object.instance_id = id;
  object.name = name;
  object.class_name = name;
  object.class_id = class_id;
  object.parts = {part};
  object.meshes = {tessellate(part, 64)};
  object.bbox = mesh_bounds(object.meshes[0]);
  return object;
}

Material solid(const Eigen::Vector3d& colour) {
  Material m;
  m.color_a = colour;
  m.texture = TextureKind::Solid;
  return m;
}

// Ground disc (radius 1.3, top at z = 0, grey 0.5) and a red sphere of radius 0.3 floating at z = 0.4,
// lit from straight above: the sphere's shadow is the disc of radius 0.3 under it.
SynthScene sphere_scene() {
  SynthScene scene;
  Primitive table;
  table.kind = PrimitiveKind::Cylinder;
  table.center = Eigen::Vector3d(0, 0, -0.05);
  table.size = Eigen::Vector3d(1.3, 1.3, 0.05);
  table.material = solid({0.5, 0.5, 0.5});
  Primitive sphere;
  sphere.kind = PrimitiveKind::Sphere;
  sphere.center = Eigen::Vector3d(0, 0, 0.4);
  sphere.size = Eigen::Vector3d::Constant(0.3);
  sphere.material = solid({0.8, 0.2, 0.2});
  scene.objects = {object_of(1, "ground", 1, table), object_of(2, "sphere", 2, sphere)};
  scene.light.direction = Eigen::Vector3d::UnitZ();
  scene.light.ambient = 0.3;
  scene.light.diffuse = 0.7;
  return scene;
}

Camera side_camera(int resolution) {
  Camera camera;
  camera.intrinsics.width = camera.intrinsics.height = resolution;
  camera.intrinsics.fx = camera.intrinsics.fy = 2.5 * resolution;
  camera.intrinsics.cx = camera.intrinsics.cy = 0.5 * resolution;
  // At (0, -3, 0.4) looking along +y: camera x = world x, camera y = world z, camera -z = world +y.
  camera.c2w << 1, 0, 0, 0,  //
      0, 0, -1, -3,          //
      0, 1, 0, 0.4,          //
      0, 0, 0, 1;
  return camera;
}

TEST(SynthRayTracer, TraceFindsTheAnalyticHits) {
  const SynthScene scene = sphere_scene();
  const RayTracer tracer(scene);

  const auto ground = tracer.trace({1.0, 0.0, 5.0}, {0, 0, -1});
  ASSERT_TRUE(ground);
  EXPECT_EQ(ground->object_index, 0);
  EXPECT_NEAR(ground->t, 5.0, 1e-5);
  EXPECT_NEAR(ground->point.z(), 0.0, 1e-5);
  EXPECT_TRUE(ground->normal.isApprox(Eigen::Vector3d::UnitZ(), 1e-6));

  // The equator point facing -x is a tessellation vertex, so the hit is exact up to float precision.
  const auto side = tracer.trace({-3.0, 0.0, 0.4}, {1, 0, 0});
  ASSERT_TRUE(side);
  EXPECT_EQ(side->object_index, 1);
  EXPECT_NEAR(side->t, 2.7, 1e-5);
  EXPECT_TRUE(side->normal.isApprox(Eigen::Vector3d(-1, 0, 0), 1e-5));

  // Normals face the ray even from inside the table disc's rim.
  const auto rim = tracer.trace({3.0, 0.0, -0.025}, {-1, 0, 0});
  ASSERT_TRUE(rim);
  EXPECT_EQ(rim->object_index, 0);
  EXPECT_NEAR(rim->t, 1.7, 1e-3);
  EXPECT_GT(rim->normal.x(), 0.99);

  EXPECT_FALSE(tracer.trace({0, 0, 5}, {0, 0, 1}));
  EXPECT_FALSE(tracer.trace({2, 2, 1}, Eigen::Vector3d(1, 1, 0).normalized()));
}

TEST(SynthRayTracer, ShadingIsLambertWithHardShadows) {
  const SynthScene scene = sphere_scene();
  const RayTracer tracer(scene);
  // A ground point in the sphere's shadow (|x| < 0.3), seen along a ray that passes under the sphere.
  const Eigen::Vector3d eye(2.0, 0.0, 1.0);
  const auto shadowed = tracer.trace(eye, (Eigen::Vector3d(0.2, 0, 0) - eye).normalized());
  ASSERT_TRUE(shadowed);
  ASSERT_EQ(shadowed->object_index, 0);
  EXPECT_TRUE(tracer.shade(*shadowed).isApprox(Eigen::Vector3d::Constant(0.5 * 0.3), 1e-9));
  const auto lit = tracer.trace(eye, (Eigen::Vector3d(1.0, 0, 0) - eye).normalized());
  ASSERT_TRUE(lit);
  EXPECT_TRUE(tracer.shade(*lit).isApprox(Eigen::Vector3d::Constant(0.5), 1e-9));
  // The sphere's top faces the light: full albedo. Its side (normal -x) gets the ambient term only.
  const auto top = tracer.trace({0, 0, 5}, {0, 0, -1});
  ASSERT_TRUE(top);
  EXPECT_TRUE(tracer.shade(*top).isApprox(Eigen::Vector3d(0.8, 0.2, 0.2), 1e-5));
  const auto side = tracer.trace({-3.0, 0.0, 0.4}, {1, 0, 0});
  EXPECT_TRUE(tracer.shade(*side).isApprox(Eigen::Vector3d(0.8, 0.2, 0.2) * 0.3, 1e-5));
}

TEST(SynthRayTracer, RenderedMapsAgreeWithEachOtherAndTheGeometry) {
  const SynthScene scene = sphere_scene();
  const RayTracer tracer(scene);
  const Camera camera = side_camera(48);
  const SynthRender render = tracer.render(camera);
  ASSERT_EQ(render.rgba.channels, 4);
  ASSERT_EQ(render.rgba.width, 48);
  ASSERT_EQ(render.depth.height, 48);

  // Image centre sees the sphere's front (z-depth ~ 2.7); the top-left corner sees the sky.
  EXPECT_EQ(render.instance.at(24, 24), 2.0f);
  EXPECT_EQ(render.semantic.at(24, 24), 2.0f);
  EXPECT_NEAR(render.depth.at(24, 24), 2.7, 0.01);
  EXPECT_EQ(render.instance.at(0, 0), 0.0f);
  EXPECT_EQ(render.instance.at(24, 47), 1.0f);  // bottom centre: the table

  int partial = 0, counts[3] = {0, 0, 0};
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x) {
      const float id = render.instance.at(x, y), alpha = render.rgba.at(x, y, 3);
      ASSERT_TRUE(id == 0 || id == 1 || id == 2);
      counts[static_cast<int>(id)]++;
      EXPECT_EQ(render.semantic.at(x, y), id);  // class ids equal instance ids in this scene
      EXPECT_EQ(alpha == 0.0f, id == 0.0f) << x << "," << y;
      EXPECT_EQ(render.depth.at(x, y) > 0.0f, id > 0.0f);
      EXPECT_TRUE(alpha == 0.0f || alpha == 0.25f || alpha == 0.5f || alpha == 0.75f || alpha == 1.0f);
      partial += alpha > 0.0f && alpha < 1.0f;
      if (id == 0) {
        for (int c = 0; c < 3; ++c) EXPECT_EQ(render.rgba.at(x, y, c), 0.0f);
        continue;
      }
      // The unprojected centre sample lies on the surface its id names.
      const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
      const Eigen::Vector3d p = ray.origin + ray.direction * (render.depth.at(x, y) / ray.direction.dot(camera.forward()));
      if (id == 2)
        EXPECT_NEAR((p - Eigen::Vector3d(0, 0, 0.4)).norm(), 0.3, 2e-3);
      else
        EXPECT_TRUE(std::abs(p.z()) < 1e-4 || std::abs(std::hypot(p.x(), p.y()) - 1.3) < 2e-3) << p.transpose();
    }
  EXPECT_GT(counts[0], 100);
  EXPECT_GT(counts[1], 100);
  EXPECT_GT(counts[2], 100);
  EXPECT_GT(partial, 10);  // the silhouettes are anti-aliased

  // Rendering is deterministic, whatever the thread schedule.
  const SynthRender again = tracer.render(camera);
  EXPECT_EQ(render.rgba.pixels, again.rgba.pixels);
  EXPECT_EQ(render.depth.pixels, again.depth.pixels);
}

// The "studio" style on the same scene: gamma-correct key + fill + hemisphere light, soft shadows, highlights.
SynthScene studio_sphere_scene() {
  SynthScene scene = sphere_scene();
  scene.config.style = "studio";
  SynthScene::Studio& s = scene.studio;
  s.key_colour = Eigen::Vector3d::Ones();
  s.key_angle = 8.0 * kPi / 180;
  s.fill_direction = Eigen::Vector3d(-1, 0, 1).normalized();
  s.fill_colour = Eigen::Vector3d::Constant(0.2);
  s.sky_colour = Eigen::Vector3d::Constant(0.2);
  s.ground_colour = Eigen::Vector3d::Constant(0.05);
  s.specular = {0.0, 0.5};
  s.shininess = {8.0, 40.0};
  return scene;
}

double srgb_of_linear(double x) { return std::pow(x, 1.0 / 2.2); }

TEST(SynthRayTracer, StudioStyleIsGammaCorrectWithSoftShadowsFillAndHighlights) {
  const SynthScene scene = studio_sphere_scene();
  const RayTracer tracer(scene);
  const double grey = std::pow(0.5, 2.2);  // the ground's albedo in linear units
  // Sphere's top, seen from straight above: normal = key direction (every key ray within 8 degrees: cos >= 0.990),
  // fill at 45 degrees, sky ambient; the highlight's half vector is the normal: + specular 0.5.
  const Eigen::Vector3d down(0, 0, -1);
  const auto top = tracer.trace({0, 0, 5}, down);
  ASSERT_TRUE(top);
  const Eigen::Vector3d lit = tracer.shade(*top, down, 7);
  const Eigen::Vector3d albedo(std::pow(0.8, 2.2), std::pow(0.2, 2.2), std::pow(0.2, 2.2));
  for (int c = 0; c < 3; ++c) {
    const double base = 0.2 + 0.2 * std::sqrt(0.5);  // sky + fill
    EXPECT_GE(lit[c], std::min(1.0, srgb_of_linear(albedo[c] * (base + 0.990) + 0.5 * 0.99)) - 1e-6);
    EXPECT_LE(lit[c], std::min(1.0, srgb_of_linear(albedo[c] * (base + 1.0) + 0.5)) + 1e-6);
  }
  // The highlight is view-dependent: the same point seen at a grazing angle is darker than from above.
  const Eigen::Vector3d graze = (top->point - Eigen::Vector3d(-3, 0, 0.75)).normalized();
  const auto top_again = tracer.trace(top->point - 3 * graze, graze);
  ASSERT_TRUE(top_again);
  EXPECT_LT(tracer.shade(*top_again, graze, 7).sum(), lit.sum() - 0.2);
  // Deep in the sphere's shadow (under its centre) no key ray reaches the ground: sky + fill only (no highlight).
  const Eigen::Vector3d eye(2.0, 0.0, 1.0);
  const Eigen::Vector3d to_umbra = (Eigen::Vector3d(0.0, 0, 0) - eye).normalized();
  const auto umbra = tracer.trace(eye, to_umbra);
  ASSERT_TRUE(umbra);
  ASSERT_EQ(umbra->object_index, 0);
  const double dark = srgb_of_linear(grey * (0.2 + 0.2 * std::sqrt(0.5)));
  EXPECT_TRUE(tracer.shade(*umbra, to_umbra, 3).isApprox(Eigen::Vector3d::Constant(dark), 1e-6));
  // Far from the sphere the ground is fully lit: every key ray arrives.
  const Eigen::Vector3d to_open = (Eigen::Vector3d(1.0, 0, 0) - eye).normalized();
  const auto open = tracer.trace(eye, to_open);
  ASSERT_TRUE(open);
  const double bright = tracer.shade(*open, to_open, 3).x();
  EXPECT_GT(bright, srgb_of_linear(grey * (0.2 + 0.2 * std::sqrt(0.5) + 0.99)) - 1e-6);
  // At the shadow's edge (the sphere's radius, 0.3, under a light 8 degrees wide: the penumbra spans
  // 0.4 * tan(8 deg) = 0.056 either side) some key rays are blocked, some not: a value strictly
  // between.
  const Eigen::Vector3d to_edge = (Eigen::Vector3d(0.3, 0, 0) - eye).normalized();
  const auto edge = tracer.trace(eye, to_edge);
  ASSERT_TRUE(edge);
  const double between = tracer.shade(*edge, to_edge, 3).x();
  EXPECT_GT(between, dark + 0.02);
  EXPECT_LT(between, bright - 0.02);
  // The default style ignores the direction and sample arguments.
  const SynthScene plain = sphere_scene();
  const RayTracer plain_tracer(plain);
  const auto p = plain_tracer.trace({0, 0, 5}, down);
  EXPECT_TRUE(plain_tracer.shade(*p, down, 7).isApprox(plain_tracer.shade(*p), 1e-12));
}

TEST(SynthRayTracer, StudioStyleKeepsTheGroundTruthMapsAndIsDeterministic) {
  const SynthScene plain = sphere_scene(), studio = studio_sphere_scene();
  const RayTracer a(plain), b(studio);
  const Camera camera = side_camera(48);
  const SynthRender ra = a.render(camera), rb = b.render(camera), rb2 = b.render(camera);
  EXPECT_EQ(ra.depth.pixels, rb.depth.pixels);
  EXPECT_EQ(ra.instance.pixels, rb.instance.pixels);
  EXPECT_EQ(ra.semantic.pixels, rb.semantic.pixels);
  EXPECT_EQ(rb.rgba.pixels, rb2.rgba.pixels);
  double difference = 0;
  for (size_t i = 0; i < ra.rgba.pixels.size(); ++i) difference += std::abs(ra.rgba.pixels[i] - rb.rgba.pixels[i]);
  EXPECT_GT(difference / static_cast<double>(ra.rgba.pixels.size()), 0.02);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x) EXPECT_EQ(ra.rgba.at(x, y, 3), rb.rgba.at(x, y, 3));
}

}  // namespace
