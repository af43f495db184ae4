// Tests for the parametric object categories and their datasets: normalisation, keypoints on the surface and in
// the rendered maps, determinism, and the written files.
#include "semfield/data/synth/categories.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <set>

#include "semfield/core/constants.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/data/scene.h"
#include "semfield/data/synth/object_dataset.h"
#include "semfield/data/synth/ray_tracer.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using namespace semfield::synth;
using ::testing::HasSubstr;

CategoryObject cat_object(ObjectCategory category, uint64_t seed) {
  SynthRng rng(seed);
  return make_category_object(category, rng);
}

TEST(SynthCategories, PitchedPrimitivesTessellateOntoTheirSurface) {
  for (const PrimitiveKind kind : {PrimitiveKind::Box, PrimitiveKind::Cylinder, PrimitiveKind::Cone,
                                   PrimitiveKind::Hemisphere, PrimitiveKind::Torus}) {
    Primitive p;
    p.kind = kind;
    p.center = Eigen::Vector3d(0.2, -0.1, 0.3);
    p.size = Eigen::Vector3d(0.3, 0.1, 0.5);
    p.yaw = 0.4;
    p.pitch = 0.6;
    const TriangleMesh mesh = tessellate(p, 32);
    for (size_t v = 0; v < mesh.positions.size(); ++v) {
      const Eigen::Vector3d x = mesh.positions[v].cast<double>();
      EXPECT_LT(std::fabs(signed_distance(p, x)), 1e-5) << primitive_name(kind);
      // The normal points out: a step along it leaves the solid.
      EXPECT_GT(signed_distance(p, x + 1e-3 * mesh.normals[v].cast<double>()), 0.0) << primitive_name(kind);
    }
    EXPECT_LT((p.to_local(p.to_world(Eigen::Vector3d(0.1, 0.2, 0.3))) - Eigen::Vector3d(0.1, 0.2, 0.3)).norm(), 1e-12);
  }
  // pitch pi/2 lays a cylinder's axis along -y; yaw then turns it about z.
  Primitive c;
  c.kind = PrimitiveKind::Cylinder;
  c.pitch = kPi / 2;
  EXPECT_LT((c.to_world(Eigen::Vector3d(0, 0, 1)) - Eigen::Vector3d(0, -1, 0)).norm(), 1e-12);
  c.yaw = kPi / 2;
  EXPECT_LT((c.to_world(Eigen::Vector3d(0, 0, 1)) - Eigen::Vector3d(1, 0, 0)).norm(), 1e-12);
}

TEST(SynthCategories, NamesRoundTripAndUnknownNamesAreListed) {
  for (const ObjectCategory category : all_categories()) EXPECT_EQ(parse_category(category_name(category)), category);
  const std::string message = test::error_of([] { parse_category("sofa"); });
  EXPECT_THAT(message, HasSubstr("unknown category 'sofa'"));
  EXPECT_THAT(message, HasSubstr("available: chair, table, mug, lamp, airplane"));
  EXPECT_THROW(parse_category("sofa"), UsageError);
}

TEST(SynthCategories, InstancesAreNormalisedWithKeypointsOnTheirSurfaces) {
  for (const ObjectCategory category : all_categories()) {
    const auto& names = category_keypoint_names(category);
    const int n_parts = static_cast<int>(category_part_names(category).size());
    std::set<int> parts_seen;
    for (uint64_t seed = 0; seed < 12; ++seed) {
      SCOPED_TRACE(fmt::format("{} seed {}", category_name(category), seed));
      const CategoryObject object = cat_object(category, seed);
      ASSERT_EQ(object.primitives.size(), object.part_ids.size());
      Eigen::AlignedBox3d box;
      for (size_t i = 0; i < object.primitives.size(); ++i) {
        box.extend(mesh_bounds(tessellate(object.primitives[i], kCategorySegments)));
        EXPECT_GE(object.part_ids[i], 1);
        EXPECT_LE(object.part_ids[i], n_parts);
        parts_seen.insert(object.part_ids[i]);
      }
      EXPECT_LT(box.center().norm(), 1e-6);
      EXPECT_NEAR(box.sizes().maxCoeff(), 1.0, 1e-6);
      std::set<std::string> unique;
      for (const auto& k : object.keypoints) {
        SCOPED_TRACE(k.name);
        EXPECT_TRUE(unique.insert(k.name).second);
        EXPECT_NE(std::find(names.begin(), names.end(), k.name), names.end());
        ASSERT_GE(k.primitive, 0);
        ASSERT_LT(k.primitive, static_cast<int>(object.primitives.size()));
        EXPECT_EQ(k.part_id, object.part_ids[static_cast<size_t>(k.primitive)]);
        EXPECT_LT(std::fabs(signed_distance(object.primitives[static_cast<size_t>(k.primitive)], k.position)), 1e-6);
      }
      EXPECT_GE(object.keypoints.size(), 4u);
    }
    EXPECT_EQ(static_cast<int>(parts_seen.size()), n_parts) << category_name(category);  // every part occurs
  }
}

TEST(SynthCategories, SameSeedSameObjectOtherSeedsOtherProportions) {
  for (const ObjectCategory category : all_categories()) {
    SCOPED_TRACE(category_name(category));
    const CategoryObject a = cat_object(category, 7), b = cat_object(category, 7);
    ASSERT_EQ(a.primitives.size(), b.primitives.size());
    for (size_t i = 0; i < a.primitives.size(); ++i) {
      EXPECT_EQ(a.primitives[i].center, b.primitives[i].center);
      EXPECT_EQ(a.primitives[i].size, b.primitives[i].size);
      EXPECT_EQ(a.primitives[i].material.color_a, b.primitives[i].material.color_a);
    }
    ASSERT_EQ(a.keypoints.size(), b.keypoints.size());
    for (size_t i = 0; i < a.keypoints.size(); ++i) EXPECT_EQ(a.keypoints[i].position, b.keypoints[i].position);
    // The bounding box's aspect (its edges over the longest) differs between seeds by several percent.
    std::set<std::vector<int>> aspects;
    for (uint64_t seed = 0; seed < 6; ++seed) {
      Eigen::AlignedBox3d box;
      for (const auto& p : cat_object(category, seed).primitives) box.extend(mesh_bounds(tessellate(p, 16)));
      const Eigen::Vector3d sizes = box.sizes() / box.sizes().maxCoeff();
      aspects.insert({static_cast<int>(sizes.x() * 30), static_cast<int>(sizes.y() * 30), static_cast<int>(sizes.z() * 30)});
    }
    EXPECT_GE(aspects.size(), 4u);
  }
}

// Keypoint pixels against the geometry: the ray of the keypoint's pixel position (click convention, through
// Camera::pixel_to_ray) meets the keypoint when it is visible and a nearer surface when it is not; the rendered part
// map shows the keypoint's part within a pixel of (almost) each visible keypoint and a nearer surface near each
// hidden one.
// (Depths of neighbouring pixels are not compared with the keypoint's: at grazing views one pixel spans a large
// depth range.) Every keypoint is visible from some training view.
TEST(SynthCategories, KeypointProjectionsAgreeWithTheRenderedMaps) {
  int checked = 0;
  std::vector<std::string> disagreements;
  for (const ObjectCategory category : all_categories()) {
    ObjectDatasetConfig config;
    config.category = category;
    config.n_views = 24;
    config.resolution = 128;
    for (int index = 0; index < 2; ++index) {
      const ObjectInstance instance = make_object_instance(config, index);
      const RayTracer tracer(instance.scene);
      std::vector<int> seen(instance.object.keypoints.size(), 0);
      int n_visible = 0, n_met = 0;
      for (size_t v = 0; v < instance.scene.train_cameras.size(); ++v) {
        const Camera& camera = instance.scene.train_cameras[v];
        const bool render = v % 6 == 0;  // rendering every view would be slow; projecting is cheap
        SynthRender maps;
        if (render) maps = tracer.render(camera);
        for (size_t k = 0; k < instance.object.keypoints.size(); ++k) {
          const CategoryKeypoint& keypoint = instance.object.keypoints[k];
          const KeypointView kv = project_keypoint(tracer, camera, keypoint.position);
          EXPECT_TRUE(kv.in_frame) << "the whole object is always in frame";
          seen[k] += kv.visible;
          if (!kv.in_frame) continue;
          SCOPED_TRACE(fmt::format("{} {} view {} {} at ({:.2f}, {:.2f}) depth {:.4f}", category_name(category), index,
                                   v, keypoint.name, kv.xy.x(), kv.xy.y(), kv.depth));
          const Ray ray = camera.pixel_to_ray(kv.xy.x() + 0.5, kv.xy.y() + 0.5);
          const auto hit = tracer.trace(ray.origin, ray.direction);
          const double hit_depth = hit ? hit->t * ray.direction.dot(camera.forward()) : 0.0;
          const double tolerance = 1e-3 * kv.depth + 2e-3;  // project_keypoint's, in depth rather than distance
          // A ray aimed at an edge may pass it by a rounding error and meet what lies behind, never what is in front.
          if (kv.visible) {
            EXPECT_TRUE(!hit || hit_depth > kv.depth - tolerance - 1e-3) << "hit depth " << hit_depth;
            ++n_visible;
            n_met += hit && std::fabs(hit_depth - kv.depth) < tolerance;
          } else {
            EXPECT_TRUE(hit && hit_depth < kv.depth - 0.5 * tolerance) << "hit depth " << hit_depth;
          }
          // The maps sample pixel centres: an occluder thinner than a pixel (a thin fin seen edge-on, a leg's own
          // side a hair in front of its rim) need not show in them.
          const bool marginal = !kv.visible && hit_depth > kv.depth - 0.03;
          if (!render || marginal) continue;
          const int px = static_cast<int>(std::lround(kv.xy.x())), py = static_cast<int>(std::lround(kv.xy.y()));
          bool part_shown = false, nearer = false;
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              const int x = px + dx, y = py + dy;
              if (x < 0 || y < 0 || x >= 128 || y >= 128) continue;
              const double depth = maps.depth.at(x, y);
              part_shown |= static_cast<int>(maps.semantic.at(x, y)) == keypoint.part_id;
              nearer |= depth > 0 && depth < kv.depth - 0.004;
            }
          const bool agrees = kv.visible ? part_shown : nearer;
          if (!agrees)
            disagreements.push_back(fmt::format("{} {}: {} view {} {}", category_name(category), index, kv.visible ? "part map" : "depth map", v, keypoint.name));
          ++checked;
        }
      }
      // Most visible keypoints are met by their pixel ray: the pixel convention is right.
      EXPECT_GT(n_met, 0.7 * n_visible) << category_name(category) << " " << index;
      for (size_t k = 0; k < seen.size(); ++k)
        EXPECT_GT(seen[k], 0) << category_name(category) << " " << index << ": " << instance.object.keypoints[k].name
                              << " is never visible";
    }
  }
  // Parts thinner than a pixel seen edge-on (an airplane's stabiliser from 5 degrees above) or a cone's apex need
  // not show at any pixel centre: allow a few such keypoints (4 of 318 when written).
  EXPECT_GT(checked, 200);
  EXPECT_LE(disagreements.size(), 0.05 * checked) << fmt::format("{}", fmt::join(disagreements, "; "));
}

TEST(SynthCategories, ConfigErrorsNameTheOption) {
  ObjectDatasetConfig config;
  config.n_instances = 0;
  EXPECT_THAT(test::error_of([&] { config.validate(); }), HasSubstr("--instances: expected at least 1, got 0"));
  config = {};
  config.resolution = 4;
  EXPECT_THAT(test::error_of([&] { config.validate(); }), HasSubstr("--res: expected 8..4096, got 4"));
  config = {};
  config.style = "eevee";
  EXPECT_THAT(test::error_of([&] { config.validate(); }),
              HasSubstr("--style: unknown style 'eevee' (available: lambert, studio)"));
}

TEST(SynthCategories, TheStudioStyleRendersTheSameInstanceAndPartsOtherwiseLit) {
  ObjectDatasetConfig config;
  config.category = ObjectCategory::Mug;
  config.n_views = 6;
  config.resolution = 48;
  const ObjectInstance plain = make_object_instance(config, 1);
  config.style = "studio";
  const ObjectInstance studio = make_object_instance(config, 1);
  EXPECT_EQ(studio.scene.config.style, "studio");
  ASSERT_EQ(studio.scene.studio.specular.size(), studio.scene.objects.size());
  EXPECT_GE(*std::min_element(studio.scene.studio.specular.begin(), studio.scene.studio.specular.end()), 0.05);
  EXPECT_TRUE(plain.scene.light.direction.isApprox(studio.scene.light.direction, 0));
  const SynthRender a = RayTracer(plain.scene).render(plain.scene.train_cameras[2]);
  const SynthRender b = RayTracer(studio.scene).render(studio.scene.train_cameras[2]);
  EXPECT_EQ(a.semantic.pixels, b.semantic.pixels);  // part ids
  EXPECT_EQ(a.depth.pixels, b.depth.pixels);
  double difference = 0;
  for (size_t i = 0; i < a.rgba.pixels.size(); ++i) difference += std::abs(a.rgba.pixels[i] - b.rgba.pixels[i]);
  EXPECT_GT(difference, 0.01 * static_cast<double>(a.rgba.pixels.size()) / 4);
}

TEST(SynthCategories, WritesADatasetWithSharedCamerasKeypointsAndSurfacePoints) {
  test::TempDir tmp;
  ObjectDatasetConfig config;
  config.category = ObjectCategory::Mug;
  config.n_instances = 2;
  config.n_views = 3;
  config.resolution = 32;
  config.n_points = 300;
  const auto summaries = write_object_dataset(config, tmp.path());
  ASSERT_EQ(summaries.size(), 2u);

  const nlohmann::json category = test::read_json(tmp.path() / "category.json");
  EXPECT_EQ(category["category"], "mug");
  EXPECT_EQ(category["parts"][1]["name"], "body");
  EXPECT_EQ(category["parts"][2]["name"], "handle");
  EXPECT_EQ(category["instances"], nlohmann::json({"instance_000", "instance_001"}));

  nlohmann::json first_train;
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE(k);
    const fs::path dir = tmp.path() / fmt::format("instance_{:03d}", k);
    for (const char* file : {"transforms_train.json", "transforms_test.json", "labels.json", "scene.json",
                             "keypoints.json", "points.npy", "points_labels.npy", "train/r_0.png", "train/r_0_depth.png",
                             "train/r_0_instance.png", "train/r_0_semantic.png", "train/r_0_keypoints.json",
                             "test/r_3.png", "test/r_6_keypoints.json"})
      EXPECT_TRUE(fs::exists(dir / file)) << file;
    const nlohmann::json train = test::read_json(dir / "transforms_train.json");
    EXPECT_EQ(train["frames"].size(), 3u);
    if (k == 0)
      first_train = train;
    else
      for (size_t i = 0; i < 3; ++i)
        EXPECT_EQ(train["frames"][i]["transform_matrix"], first_train["frames"][i]["transform_matrix"]);

    // Per-view keypoint files hold exactly the visible keypoints of keypoints.json.
    const nlohmann::json keypoints = test::read_json(dir / "keypoints.json");
    EXPECT_EQ(keypoints["category"], "mug");
    EXPECT_EQ(keypoints["views"].size(), 7u);  // r_0..r_2 train, r_3..r_6 test
    for (const auto& [view, list] : keypoints["views"].items()) {
      const int index = std::stoi(view.substr(2));
      const nlohmann::json per_view =
          test::read_json(dir / fmt::format("{}/{}_keypoints.json", index < 3 ? "train" : "test", view));
      size_t visible = 0;
      for (const auto& entry : list) visible += entry["visible"].get<bool>();
      EXPECT_EQ(per_view["keypoints"].size(), visible) << view;
      EXPECT_EQ(list.size(), keypoints["keypoints"].size());
    }

    // Points lie on a primitive of their label's part.
    const nlohmann::json scene = test::read_json(dir / "scene.json");
    const ObjectInstance instance = make_object_instance(config, k);
    const Array points = read_npy(dir / "points.npy"), labels = read_npy(dir / "points_labels.npy");
    ASSERT_EQ(points.shape, (std::vector<int64_t>{300, 3}));
    ASSERT_EQ(labels.dtype, DType::I32);
    const std::vector<float> xyz = points.to_float();
    const std::vector<int64_t> part = labels.to_int64();
    std::set<int64_t> labels_seen;
    for (size_t i = 0; i < 300; ++i) {
      const Eigen::Vector3d p(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
      bool on_part = false;
      for (size_t j = 0; j < instance.object.primitives.size(); ++j)
        on_part |= instance.object.part_ids[j] == part[i] &&
                   std::fabs(signed_distance(instance.object.primitives[j], p)) < 2e-3;
      EXPECT_TRUE(on_part) << "point " << i;
      labels_seen.insert(part[i]);
    }
    EXPECT_EQ(labels_seen, (std::set<int64_t>{1, 2}));
    EXPECT_EQ(scene["primitives"].size(), instance.object.primitives.size());

    // The folder loads as a scene with part maps and labels.
    const Scene loaded = load_scene(dir);
    EXPECT_EQ(loaded.views.size(), 7u);
    ASSERT_TRUE(loaded.views[0].semantic.has_value());
    EXPECT_EQ(loaded.semantic_labels.at(0).name, "background");
    EXPECT_EQ(loaded.semantic_labels.at(2).name, "handle");
    EXPECT_EQ(loaded.bounds.aabb_scale, 1);
  }
}

}  // namespace
