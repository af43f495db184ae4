// Tests for the synthetic ray tracer on a hand-built scene with known answers: a sphere above a table.
#include "semfield/data/synth/ray_tracer.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
