// Tests for the procedural scene description: config validation, determinism, placement and cameras.
#include "semfield/data/synth/synth_scene.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"

namespace {

using semfield::make_synth_scene;
using semfield::SynthConfig;
using semfield::SynthScene;
using semfield::UsageError;
using ::testing::HasSubstr;

using semfield::kPi;

std::string usage_error_of(const SynthConfig& config) {
  try {
    config.validate();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

SynthConfig small_config(uint64_t seed, int objects = 5) {
  SynthConfig config;
  config.n_objects = objects;
  config.n_views = 12;
  config.resolution = 32;
  config.seed = seed;
  return config;
}

TEST(SynthScene, DefaultsAreTheDocumentedOnes) {
  const SynthConfig config;
  EXPECT_EQ(config.preset, "tabletop");
  EXPECT_EQ(config.n_objects, 5);
  EXPECT_EQ(config.n_views, 40);
  EXPECT_EQ(config.resolution, 128);
  EXPECT_EQ(config.seed, 0u);
  EXPECT_EQ(config.n_scenes, 1);
  EXPECT_EQ(config.n_test_views(), 8);
  SynthConfig few;
  few.n_views = 6;
  EXPECT_EQ(few.n_test_views(), 4);
}

TEST(SynthScene, ValidationNamesTheOption) {
  auto with = [](auto change) {
    SynthConfig config;
    change(config);
    return usage_error_of(config);
  };
  EXPECT_EQ(usage_error_of(SynthConfig{}), "<no error>");
  EXPECT_THAT(with([](SynthConfig& c) { c.n_objects = 0; }), HasSubstr("--objects: expected 1..20, got 0"));
  EXPECT_THAT(with([](SynthConfig& c) { c.n_objects = 21; }), HasSubstr("--objects: expected 1..20, got 21"));
  EXPECT_THAT(with([](SynthConfig& c) { c.n_views = 0; }), HasSubstr("--views: expected at least 1, got 0"));
  EXPECT_THAT(with([](SynthConfig& c) { c.resolution = 7; }), HasSubstr("--res: expected 8..4096, got 7"));
  EXPECT_THAT(with([](SynthConfig& c) { c.resolution = 4097; }), HasSubstr("--res"));
  EXPECT_THAT(with([](SynthConfig& c) { c.n_scenes = 0; }), HasSubstr("--scenes: expected at least 1, got 0"));
  EXPECT_THAT(with([](SynthConfig& c) { c.height = 5; }), HasSubstr("--height: expected 8..4096, got 5"));
  EXPECT_THAT(with([](SynthConfig& c) { c.preset = "kitchen"; }),
              HasSubstr("--preset: unknown preset 'kitchen' (available: tabletop, open)"));
  EXPECT_THAT(with([](SynthConfig& c) { c.style = "cycles"; }),
              HasSubstr("--style: unknown style 'cycles' (available: lambert, studio)"));
  SynthConfig bad;
  bad.n_objects = 0;
  EXPECT_THROW(make_synth_scene(bad), UsageError);
}

TEST(SynthScene, SameSeedSameSceneDifferentSeedDifferentScene) {
  const auto a = semfield::synth_scene_to_json(make_synth_scene(small_config(11)));
  const auto b = semfield::synth_scene_to_json(make_synth_scene(small_config(11)));
  const auto c = semfield::synth_scene_to_json(make_synth_scene(small_config(12)));
  EXPECT_EQ(a.dump(), b.dump());
  EXPECT_NE(a["objects"].dump(), c["objects"].dump());
}

TEST(SynthScene, ClassNames) {
  const auto names = semfield::synth_class_names();
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[0], "void");
  EXPECT_EQ(names[1], "ground");
  EXPECT_EQ(names[2], "sphere");
  EXPECT_EQ(names[static_cast<size_t>(semfield::synth::shape_class_id(semfield::synth::ShapeType::Table))],
            "table");
}

TEST(SynthScene, ObjectsAreDistinctNonOverlappingAndInsideTheSceneBox) {
  for (int n : {1, 5, 8, 13, 20}) {
    for (uint64_t seed : {0u, 1u, 2u}) {
      SCOPED_TRACE(testing::Message() << n << " objects, seed " << seed);
      const SynthScene scene = make_synth_scene(small_config(seed, n));
      ASSERT_EQ(scene.objects.size(), static_cast<size_t>(n + 1));
      EXPECT_EQ(scene.objects[0].name, "ground");
      EXPECT_EQ(scene.objects[0].instance_id, 1);
      EXPECT_EQ(scene.objects[0].class_id, 1);
      EXPECT_NEAR(scene.objects[0].bbox.max().z(), 0.0, 1e-6);
      std::set<std::string> names;
      std::set<int> classes;
      for (size_t k = 1; k < scene.objects.size(); ++k) {
        const auto& o = scene.objects[k];
        EXPECT_EQ(o.instance_id, static_cast<int>(k) + 1);
        EXPECT_EQ(o.class_id, semfield::synth::shape_class_id(o.type));
        EXPECT_EQ(o.class_name, semfield::synth::shape_type_name(o.type));
        names.insert(o.name);
        classes.insert(o.class_id);
        // On the table top, inside the table disc and the [-1.5, 1.5]^3 scene box.
        EXPECT_NEAR(o.bbox.min().z(), 0.0, 1e-6);
        EXPECT_LE(o.position.norm() + o.footprint, scene.table_radius + 1e-9);
        EXPECT_GE(o.bbox.min().minCoeff(), -1.5);
        EXPECT_LE(o.bbox.max().maxCoeff(), 1.5);
        for (size_t j = 1; j < k; ++j) {
          const auto& other = scene.objects[j];
          EXPECT_GT((o.position - other.position).norm(), o.footprint + other.footprint);
        }
      }
      EXPECT_EQ(names.size(), static_cast<size_t>(n));
      // Classes are dealt from a shuffled deck of all eight: the first eight objects never repeat one.
      EXPECT_EQ(classes.size(), static_cast<size_t>(std::min(n, 8)));
    }
  }
}

TEST(SynthScene, CamerasOrbitTheLookAtPoint) {
  const SynthScene scene = make_synth_scene(small_config(4));
  ASSERT_EQ(scene.train_cameras.size(), 12u);
  ASSERT_EQ(scene.test_cameras.size(), 4u);
  EXPECT_NEAR(scene.fov_x, 40.0 * kPi / 180.0, 1e-12);
  std::vector<Eigen::Vector3d> train_positions;
  for (const auto* cameras : {&scene.train_cameras, &scene.test_cameras}) {
    for (const auto& camera : *cameras) {
      const auto& K = camera.intrinsics;
      EXPECT_EQ(K.width, 32);
      EXPECT_EQ(K.height, 32);
      EXPECT_NEAR(2 * std::atan(0.5 * K.width / K.fx), scene.fov_x, 1e-12);
      const Eigen::Matrix3d R = camera.c2w.block<3, 3>(0, 0);
      EXPECT_TRUE((R.transpose() * R).isIdentity(1e-12));
      EXPECT_NEAR(R.determinant(), 1.0, 1e-12);
      const Eigen::Vector3d offset = camera.origin() - scene.look_at;
      EXPECT_NEAR(offset.norm(), 4.0, 1e-9);
      const double elevation = std::asin(offset.z() / offset.norm()) * 180.0 / kPi;
      EXPECT_GE(elevation, 15.0 - 1e-9);
      EXPECT_LE(elevation, 65.0 + 1e-9);
      // The principal ray passes through the look-at point and the image is upright (camera y up ~ +z).
      const semfield::Ray ray = camera.pixel_to_ray(K.cx, K.cy);
      EXPECT_NEAR((ray.origin + 4.0 * ray.direction - scene.look_at).norm(), 0.0, 1e-9);
      EXPECT_GT(camera.c2w(2, 1), 0.0);
      if (cameras == &scene.train_cameras) {
        train_positions.push_back(camera.origin());
      } else {
        for (const auto& p : train_positions) EXPECT_GT((p - camera.origin()).norm(), 0.1);
      }
    }
  }
}

}  // namespace

TEST(SynthScene, NonSquareImagesKeepTheHorizontalFieldOfViewAndTheCentredPrincipalRay) {
  SynthConfig config = small_config(4);
  config.resolution = 64;
  config.height = 36;
  const SynthScene scene = make_synth_scene(config);
  const SynthScene square = make_synth_scene(small_config(4));
  for (size_t i = 0; i < scene.train_cameras.size(); ++i) {
    const auto& K = scene.train_cameras[i].intrinsics;
    EXPECT_EQ(K.width, 64);
    EXPECT_EQ(K.height, 36);
    EXPECT_DOUBLE_EQ(K.fx, K.fy);
    EXPECT_DOUBLE_EQ(K.cx, 32.0);
    EXPECT_DOUBLE_EQ(K.cy, 18.0);
    EXPECT_NEAR(2 * std::atan(0.5 * K.width / K.fx), scene.fov_x, 1e-12);
    // The same poses as the square scene of the seed: only the image changes.
    EXPECT_TRUE(scene.train_cameras[i].c2w.isApprox(square.train_cameras[i].c2w, 1e-12));
  }
  EXPECT_EQ(semfield::synth_scene_to_json(scene)["config"]["height"].get<int>(), 36);
  EXPECT_FALSE(semfield::synth_scene_to_json(square)["config"].contains("height"));
}

TEST(SynthScene, OpenPresetPutsGroundAndCamerasBeyondTheBoxAndKeepsTheObjectsInside) {
  SynthConfig config = small_config(5);
  config.preset = "open";
  const SynthScene scene = make_synth_scene(config);
  SynthConfig tabletop_config = small_config(5);
  const SynthScene tabletop = make_synth_scene(tabletop_config);
  EXPECT_EQ(scene.table_radius, 5.0);
  EXPECT_EQ(scene.camera_radius, 6.0);
  EXPECT_NEAR(scene.objects[0].bbox.max().x(), 5.0, 1e-3);
  EXPECT_NEAR(scene.objects[0].bbox.min().y(), -5.0, 1e-3);
  ASSERT_EQ(scene.objects.size(), tabletop.objects.size());
  for (size_t k = 1; k < scene.objects.size(); ++k) {
    // The same objects, placed as on the tabletop: only the ground and the cameras change.
    EXPECT_EQ(scene.objects[k].name, tabletop.objects[k].name);
    EXPECT_TRUE(scene.objects[k].position.isApprox(tabletop.objects[k].position));
    EXPECT_GE(scene.objects[k].bbox.min().minCoeff(), -1.5);
    EXPECT_LE(scene.objects[k].bbox.max().maxCoeff(), 1.5);
  }
  for (const auto& camera : scene.train_cameras) EXPECT_NEAR((camera.origin() - scene.look_at).norm(), 6.0, 1e-9);
  for (const auto& camera : scene.test_cameras) EXPECT_NEAR((camera.origin() - scene.look_at).norm(), 6.0, 1e-9);
}

TEST(SynthScene, VaryChangesCountCamerasAndLightButNotTheDefault) {
  // Without --vary nothing changes: the same seed gives the same scene as before the option existed.
  EXPECT_EQ(make_synth_scene(small_config(3)).config.vary, false);
  std::set<size_t> counts;
  std::set<double> radii, ambients;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    SynthConfig config = small_config(seed, 8);
    config.vary = true;
    const SynthScene varied = make_synth_scene(config);
    const SynthScene plain = make_synth_scene(small_config(seed, 8));
    const size_t n = varied.objects.size() - 1;
    EXPECT_GE(n, 4u);
    EXPECT_LE(n, 8u);
    counts.insert(n);
    EXPECT_GE(varied.camera_radius, 0.8 * 4.0 - 1e-9);
    EXPECT_LE(varied.camera_radius, 1.2 * 4.0 + 1e-9);
    radii.insert(varied.camera_radius);
    EXPECT_GE(varied.elevation_min, 5.0 * kPi / 180 - 1e-9);
    EXPECT_LE(varied.elevation_max, 80.0 * kPi / 180 + 1e-9);
    EXPECT_GE(varied.elevation_max - varied.elevation_min, 35.0 * kPi / 180 - 1e-9);
    EXPECT_NEAR(varied.light.ambient + varied.light.diffuse, 1.0, 1e-12);
    ambients.insert(varied.light.ambient);
    for (const auto& camera : varied.train_cameras) {
      const Eigen::Vector3d offset = camera.origin() - varied.look_at;
      EXPECT_NEAR(offset.norm(), varied.camera_radius, 1e-9);
      const double elevation = std::asin(offset.z() / offset.norm());
      EXPECT_GE(elevation, varied.elevation_min - 1e-9);
      EXPECT_LE(elevation, varied.elevation_max + 1e-9);
    }
    // The plain scene keeps the documented layout.
    EXPECT_EQ(plain.objects.size(), 9u);
    EXPECT_EQ(plain.camera_radius, 4.0);
    EXPECT_NEAR(plain.elevation_min, 15.0 * kPi / 180, 1e-12);
    EXPECT_NEAR(plain.elevation_max, 65.0 * kPi / 180, 1e-12);
  }
  EXPECT_GE(counts.size(), 4u);  // 4..8 objects: most counts appear over 24 seeds
  EXPECT_EQ(radii.size(), 24u);
  EXPECT_EQ(ambients.size(), 24u);
}

TEST(SynthScene, StudioStyleKeepsTheSceneAndAddsItsLights) {
  for (uint64_t seed = 0; seed < 6; ++seed) {
    SynthConfig config = small_config(seed, 6);
    config.vary = true;
    const SynthScene plain = make_synth_scene(config);
    config.style = "studio";
    const SynthScene studio = make_synth_scene(config);
    // Same layout, textures, light direction and cameras: only the renderer differs.
    EXPECT_EQ(synth_scene_to_json(plain)["objects"], synth_scene_to_json(studio)["objects"]);
    EXPECT_TRUE(plain.light.direction.isApprox(studio.light.direction, 0));
    ASSERT_EQ(plain.train_cameras.size(), studio.train_cameras.size());
    for (size_t i = 0; i < plain.train_cameras.size(); ++i)
      EXPECT_TRUE(plain.train_cameras[i].c2w.isApprox(studio.train_cameras[i].c2w, 0));
    const SynthScene::Studio& s = studio.studio;
    ASSERT_EQ(s.specular.size(), studio.objects.size());
    ASSERT_EQ(s.shininess.size(), studio.objects.size());
    for (size_t o = 0; o < s.specular.size(); ++o) {
      EXPECT_GE(s.specular[o], o == 0 ? 0.02 : 0.05);
      EXPECT_LE(s.specular[o], o == 0 ? 0.1 : 0.5);
      EXPECT_GE(s.shininess[o], 4.0);
      EXPECT_LE(s.shininess[o], 120.0 + 1e-9);
    }
    EXPECT_NEAR(s.fill_direction.norm(), 1.0, 1e-12);
    EXPECT_LT(s.fill_direction.head<2>().dot(studio.light.direction.head<2>()), 0.0);  // from the other side
    EXPECT_GT(s.key_angle, 0.0);
    const nlohmann::json json = synth_scene_to_json(studio);
    EXPECT_EQ(json["config"]["style"], "studio");
    EXPECT_TRUE(json["light"].contains("studio"));
    EXPECT_FALSE(synth_scene_to_json(plain)["config"].contains("style"));  // older scene.json files unchanged
  }
}

TEST(SynthScene, NovelShapesAreHeldOutClassesThatRestOnTheTableWithinTheirFootprint) {
  const auto all = semfield::synth_class_names(true);
  ASSERT_EQ(all.size(), 15u);
  EXPECT_EQ(std::vector<std::string>(all.begin(), all.begin() + 10), semfield::synth_class_names());
  EXPECT_EQ(all[10], "capsule");
  EXPECT_EQ(all[14], "rocket");
  std::set<int> novel_seen;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    SynthConfig config = small_config(seed, 8);
    EXPECT_EQ(synth_scene_to_json(make_synth_scene(config))["config"].contains("novel_shapes"), false);
    for (const auto& o : make_synth_scene(config).objects) EXPECT_LT(o.class_id, 10);  // off by default
    config.novel_shapes = true;
    const SynthScene scene = make_synth_scene(config);
    EXPECT_EQ(synth_scene_to_json(scene)["config"]["novel_shapes"], true);
    for (size_t k = 1; k < scene.objects.size(); ++k) {
      const auto& o = scene.objects[k];
      EXPECT_LT(o.class_id, 15);
      EXPECT_EQ(o.class_name, all[static_cast<size_t>(o.class_id)]);
      if (o.class_id >= 10) novel_seen.insert(o.class_id);
      EXPECT_NEAR(o.bbox.min().z(), 0.0, 1e-6) << o.name;
      EXPECT_GE(o.bbox.min().minCoeff(), -1.5);
      EXPECT_LE(o.bbox.max().maxCoeff(), 1.5);
      // Placement keeps footprints apart, so every surface point must lie within the footprint.
      for (const auto& mesh : o.meshes)
        for (const auto& v : mesh.positions)
          EXPECT_LE((v.cast<double>().head<2>() - o.position).norm(), o.footprint + 1e-5) << o.name;
    }
  }
  EXPECT_EQ(novel_seen.size(), 5u);  // every held-out shape appears over 12 scenes
}
