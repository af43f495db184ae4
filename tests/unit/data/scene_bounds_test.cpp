// Tests for bounds inference: the box load_scene infers for NeRF-synthetic scenes without "aabb_scale"
// (from depth, alpha, a background colour, or opaque images), the warnings, and the file's own box kept.
#include "semfield/data/scene_bounds.h"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/data/scene.h"
#include "semfield/data/silhouette_hull.h"
#include "support/test_support.h"
#include "unit/data/ring_scene.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using semfield::test::LogCapture;
using semfield::test::RingScene;
using semfield::test::TempDir;
using semfield::test::write_ring_scene;
using ::testing::HasSubstr;
using ::testing::Not;

// instant-ngp's default scale 0.33 maps the unit cube to [-1,1]^3: normalised = 0.66 * world.
constexpr double kWorldToNormalised = 0.66;

// Lego-like: one sphere of radius 1 at the centre (0.66 normalised), cameras 4 units away.
RingScene object_scene() {
  RingScene scene;
  scene.spheres = {{Eigen::Vector3d::Zero(), 1.0}};
  scene.distance = 4.0;
  scene.angle_x = 0.9;
  return scene;
}

// Content beyond lego's box: the central sphere plus one of radius 1 at x = 4, so content reaches 5 world
// units (3.3 normalised) from the centre; cameras on a ring 6 units out (3.96 normalised).
RingScene wide_scene() {
  RingScene scene;
  scene.spheres = {{Eigen::Vector3d::Zero(), 1.0}, {Eigen::Vector3d(4, 0, 0), 1.0}};
  scene.distance = 6.0;
  return scene;
}

struct Loaded {
  Scene scene;
  std::string log;
};

Loaded load_ring(const fs::path& dir, const RingScene& ring, const LoadOptions& options = {}) {
  write_ring_scene(dir, ring);
  LogCapture log;
  Scene scene = load_scene(dir, options);
  return {std::move(scene), log.text()};
}

std::string default_box_warning(const fs::path& dir, double extent, const std::string& evidence, int scale) {
  return fmt::format(
      "{}: visible content reaches {:.3g} units from the scene centre ({}), beyond the default box [-1,1]^3; the "
      "file gives no \"aabb_scale\": using aabb_scale {}, contracted beyond [-1,1]^3; set \"aabb_scale\" in "
      "transforms_train.json to choose",
      (dir / "transforms_train.json").string(), extent, evidence, scale);
}

TEST(SceneBounds, DepthMapsFindContentBeyondTheBox) {
  TempDir dir;
  RingScene ring = wide_scene();
  ring.depth = true;
  const Loaded loaded = load_ring(dir.path(), ring);
  const SceneBounds& b = loaded.scene.bounds;
  EXPECT_EQ(b.source, BoundsSource::Depth);
  EXPECT_EQ(b.evidence, BoundsSource::Depth);
  EXPECT_EQ(b.views_sampled, 12);
  // Depth is exact to a millimetre: the 99th percentile lies just inside the true reach, 5 * 0.66 = 3.3,
  // and beyond 2 * 1.01 (the box below), so the smallest power of two holding it is 4.
  ASSERT_TRUE(b.content_extent.has_value());
  EXPECT_GT(*b.content_extent, 3.1);
  EXPECT_LE(*b.content_extent, 5 * kWorldToNormalised + 1e-3);
  EXPECT_EQ(b.aabb_scale, 4);
  EXPECT_EQ(loaded.scene.aabb.max(), Eigen::Vector3d::Constant(4));
  EXPECT_TRUE(loaded.scene.unbounded);
  EXPECT_THAT(loaded.log,
              HasSubstr(default_box_warning(dir.path(), *b.content_extent, "from the depth maps of 12 views", 4)));
  EXPECT_THAT(loaded.log, Not(HasSubstr("cameras sit inside")));
}

TEST(SceneBounds, OpaqueAlphaFindsContentBeyondTheBox) {
  TempDir dir;
  const Loaded loaded = load_ring(dir.path(), wide_scene());
  const SceneBounds& b = loaded.scene.bounds;
  EXPECT_EQ(b.source, BoundsSource::Alpha);
  // Rays of opaque pixels that miss [-1,1]^3 prove content beyond it; the visual hull places it, never
  // nearer than the truth (3.3) by more than a hull cell and, here, within the cameras' box (3.96 * 1.01).
  ASSERT_TRUE(b.content_extent.has_value());
  EXPECT_GT(*b.content_extent, 3.0);
  EXPECT_LT(*b.content_extent, 4.04);
  EXPECT_EQ(b.aabb_scale, 4);
  EXPECT_TRUE(loaded.scene.unbounded);
  EXPECT_THAT(loaded.log,
              HasSubstr(default_box_warning(dir.path(), *b.content_extent, "from the alpha of 12 views", 4)));
}

TEST(SceneBounds, AGroundPlaneBeyondLegosBoxIsFound) {
  // The reported scene: an object on a ground plane of radius 5 (3.3 normalised), cameras 6 out, 2 up.
  RingScene ring;
  ring.spheres = {{Eigen::Vector3d(0, 0, 1), 1.0}};
  ring.ground_radius = 5.0;
  ring.distance = 6.0;
  ring.height = 2.0;
  ring.angle_x = 0.9;
  for (const bool depth : {true, false}) {
    TempDir dir;
    ring.depth = depth;
    const Loaded loaded = load_ring(dir.path(), ring);
    const SceneBounds& b = loaded.scene.bounds;
    EXPECT_EQ(b.source, depth ? BoundsSource::Depth : BoundsSource::Alpha);
    // Depth sees the plane's reach (its 99th percentile: the far rim covers few pixels); alpha proves
    // content beyond [-1,1]^3 (rays to the near ground miss it) and the hull places it within the
    // cameras' box (6 * 0.66 = 3.96). Either way beyond 2 * 1.01, so 4.
    ASSERT_TRUE(b.content_extent.has_value());
    EXPECT_GT(*b.content_extent, 2.5);
    EXPECT_LE(*b.content_extent, depth ? 5 * kWorldToNormalised + 1e-3 : 4.04);
    EXPECT_EQ(b.aabb_scale, 4) << "depth " << depth << " extent " << *b.content_extent;
    EXPECT_TRUE(loaded.scene.unbounded);
    EXPECT_THAT(loaded.log, HasSubstr("using aabb_scale 4, contracted beyond [-1,1]^3"));
  }
}

TEST(SceneBounds, UniformBackgroundColourStandsInForAlpha) {
  TempDir wide_dir, object_dir;
  RingScene wide = wide_scene(), object = object_scene();
  wide.background = object.background = RingScene::Background::White;
  const Loaded loaded = load_ring(wide_dir.path(), wide);
  EXPECT_EQ(loaded.scene.bounds.source, BoundsSource::Background);
  EXPECT_EQ(loaded.scene.bounds.aabb_scale, 4);
  EXPECT_THAT(loaded.log, HasSubstr(default_box_warning(
                              wide_dir.path(), loaded.scene.bounds.content_extent.value_or(-1),
                              "from 12 views, reading their common border colour #ffffff as background", 4)));
  // An object on white (NeRF-synthetic composited onto white, as RGB) keeps lego's box.
  const Loaded small = load_ring(object_dir.path(), object);
  EXPECT_EQ(small.scene.bounds.source, BoundsSource::Background);
  EXPECT_EQ(small.scene.bounds.aabb_scale, 1);
  EXPECT_EQ(small.log, "");
}

TEST(SceneBounds, AnObjectInsideTheBoxKeepsTheDefaultWithoutAWord) {
  for (const bool depth : {false, true}) {
    TempDir dir;
    RingScene ring = object_scene();
    ring.depth = depth;
    const Loaded loaded = load_ring(dir.path(), ring);
    const SceneBounds& b = loaded.scene.bounds;
    EXPECT_EQ(b.source, depth ? BoundsSource::Depth : BoundsSource::Alpha);
    // The sphere reaches 0.66; rays' closest approaches and depth never place it farther.
    ASSERT_TRUE(b.content_extent.has_value());
    EXPECT_GT(*b.content_extent, 0.5);
    EXPECT_LE(*b.content_extent, kWorldToNormalised + 1e-3);
    EXPECT_EQ(b.aabb_scale, 1);
    EXPECT_EQ(loaded.scene.aabb.max(), Eigen::Vector3d::Constant(1));
    EXPECT_FALSE(loaded.scene.unbounded);
    // Cameras 2.64 out, far outside the box, are normal for such a capture: no warning.
    EXPECT_EQ(loaded.log, "") << "depth " << depth;
  }
}

TEST(SceneBounds, TheFilesBoxIsKeptAndWarnsWhenContentExceedsIt) {
  for (const int box : {1, 2}) {
    TempDir dir;
    RingScene ring = wide_scene();
    ring.depth = true;
    ring.top = fmt::format(R"("aabb_scale": {})", box);
    const Loaded loaded = load_ring(dir.path(), ring);
    const SceneBounds& b = loaded.scene.bounds;
    EXPECT_EQ(b.aabb_scale, box);
    EXPECT_EQ(b.source, BoundsSource::File);
    EXPECT_EQ(b.evidence, BoundsSource::Depth);
    EXPECT_EQ(loaded.scene.aabb.max(), Eigen::Vector3d::Constant(box));
    EXPECT_EQ(loaded.scene.unbounded, box > 1);
    const std::string consequence = box == 1 ? "rays stop at the box, so what lies beyond it cannot be learned"
                                             : "it is learned in contracted form, but 3D selections cover the box only";
    EXPECT_THAT(loaded.log,
                HasSubstr(fmt::format("{}: visible content reaches {:.3g} units from the scene centre (from the depth "
                                      "maps of 12 views), beyond the box of \"aabb_scale\": {} ([-{},{}]^3) the file "
                                      "gives: {}. ",
                                      (dir / "transforms_train.json").string(), b.content_extent.value_or(-1), box,
                                      box, box, consequence)));
    // r_0 looks at the origin from +x, over the sphere at x = 4: nearly all it sees lies beyond either box.
    EXPECT_THAT(loaded.log, HasSubstr("sampled views see content beyond the box, most of all r_0 ("));
    EXPECT_THAT(loaded.log, HasSubstr("; aabb_scale 4 would hold it (the file's value is kept)"));
  }
}

TEST(SceneBounds, TheFilesBoxHoldingTheContentIsSilent) {
  TempDir dir;
  RingScene ring = object_scene();
  ring.top = R"("aabb_scale": 1)";
  const Loaded loaded = load_ring(dir.path(), ring);
  EXPECT_EQ(loaded.scene.bounds.source, BoundsSource::File);
  EXPECT_EQ(loaded.scene.bounds.evidence, BoundsSource::Alpha);
  EXPECT_EQ(loaded.scene.bounds.aabb_scale, 1);
  EXPECT_EQ(loaded.log, "");
}

TEST(SceneBounds, OpaqueImagesWithoutDepthMeanAnUnboundedBackground) {
  TempDir dir, bounded_dir;
  RingScene ring = object_scene();
  ring.background = RingScene::Background::Opaque;
  const Loaded loaded = load_ring(dir.path(), ring);
  const SceneBounds& b = loaded.scene.bounds;
  EXPECT_EQ(b.source, BoundsSource::Opaque);
  EXPECT_FALSE(b.content_extent.has_value());
  // The box holds the cameras: 4 * 0.66 = 2.64 -> 4.
  EXPECT_EQ(b.aabb_scale, 4);
  EXPECT_TRUE(loaded.scene.unbounded);
  EXPECT_THAT(loaded.log,
              HasSubstr((dir / "transforms_train.json").string() +
                        ": the images are opaque to their borders and there are no depth maps, so the background is "
                        "unbounded; the file gives no \"aabb_scale\": using aabb_scale 4 (the smallest box that holds "
                        "the cameras), contracted beyond [-1,1]^3; set \"aabb_scale\" in transforms_train.json to "
                        "choose"));
  ring.top = R"("aabb_scale": 1)";
  const Loaded bounded = load_ring(bounded_dir.path(), ring);
  EXPECT_EQ(bounded.scene.bounds.aabb_scale, 1);
  EXPECT_FALSE(bounded.scene.unbounded);
  EXPECT_THAT(bounded.log,
              HasSubstr((bounded_dir / "transforms_train.json").string() +
                        ": \"aabb_scale\": 1 models a bounded box, but the images are opaque to their borders and "
                        "there are no depth maps: the background is unbounded, and rays stop at the box, so it cannot "
                        "be learned; aabb_scale 4 (the smallest box that holds the cameras) would model it"));
}

TEST(SceneBounds, CamerasInsideTheContentAreNamed) {
  // Eight spheres on a circle of radius 4 around cameras on a circle of radius 1.5 that look inwards, past
  // the centre, at the spheres on the far side: all they see lies farther out than they are.
  TempDir dir;
  RingScene ring;
  for (int k = 0; k < 8; ++k)
    ring.spheres.push_back({Eigen::Vector3d(4 * std::cos(M_PI * k / 4), 4 * std::sin(M_PI * k / 4), 0), 1.0});
  ring.distance = 1.5;
  ring.height = 0.0;
  ring.depth = true;
  const Loaded loaded = load_ring(dir.path(), ring);
  EXPECT_EQ(loaded.scene.bounds.aabb_scale, 4);
  EXPECT_THAT(loaded.log, HasSubstr("beyond the default box [-1,1]^3; 12 of 12 sampled cameras sit inside the content "
                                    "(most of what they see lies farther from the centre than they do); the file "
                                    "gives no \"aabb_scale\""));
}

TEST(SceneBounds, EveryWayOfLoadingInfersTheSameBox) {
  TempDir dir;
  RingScene ring = wide_scene();
  write_ring_scene(dir.path(), ring);
  LoadOptions downscaled, probed, verified, train_only, test_only;
  downscaled.downscale = 2;
  probed.load_images = false;
  verified.load_images = false;
  verified.verify_files = true;
  train_only.pixels_only_for = Split::Train;
  test_only.pixels_only_for = Split::Test;
  const Scene full = load_scene(dir.path());
  const SceneBounds reference = full.bounds;
  for (const LoadOptions& options : {downscaled, probed, verified, train_only, test_only}) {
    const Scene scene = load_scene(dir.path(), options);
    if (options.pixels_only_for) {
      // Only that split's views carry pixels; the others are headers, decodable later as the full load has them.
      int decoded = 0;
      for (size_t i = 0; i < scene.views.size(); ++i) {
        const View& v = scene.views[i];
        EXPECT_EQ(v.rgb.empty(), v.split != *options.pixels_only_for) << v.name;
        EXPECT_EQ(v.has_alpha(), full.views[i].has_alpha()) << v.name;
        if (v.rgb.empty()) {
          EXPECT_EQ(load_view_colour(v, options).pixels, full.views[i].rgb.pixels) << v.name;
        } else {
          ++decoded;
        }
      }
      EXPECT_EQ(decoded, static_cast<int>(full.split(*options.pixels_only_for).size()));
    }
    const SceneBounds& b = scene.bounds;
    EXPECT_EQ(b.aabb_scale, reference.aabb_scale);
    EXPECT_EQ(b.source, reference.source);
    EXPECT_EQ(b.content_extent, reference.content_extent);
    EXPECT_EQ(b.views_sampled, reference.views_sampled);
  }
}

TEST(SceneBounds, SampledFramesSpreadEvenlyOverLargeScenes) {
  EXPECT_EQ(bounds_sample_frames(3), (std::vector<size_t>{0, 1, 2}));
  const std::vector<size_t> frames = bounds_sample_frames(1000);
  ASSERT_EQ(frames.size(), kBoundsMaxViews);
  EXPECT_EQ(frames.front(), 0u);
  EXPECT_EQ(frames.back(), 999u);
  for (size_t k = 1; k < frames.size(); ++k)
    EXPECT_NEAR(static_cast<double>(frames[k] - frames[k - 1]), 999.0 / 63, 1.0);
}

TEST(SceneBounds, SamplesAreFullResolutionPixelsOnACoarseGrid) {
  Image image(300, 200, 4, 1.0f), depth(300, 200, 1, 2.0f);
  image.at(151, 1, 3) = 0.0f;  // the sample of cell (50, 0): stride 3, centre offset 1
  RingScene ring;
  ring.size = 300;
  Camera camera = semfield::test::ring_camera(ring, 0);
  camera.intrinsics.height = 200;
  const BoundsView view = sample_bounds_view("v", camera, image, &depth);
  EXPECT_EQ(view.stride, 3);  // ceil(300 / 128)
  EXPECT_EQ(view.width, 100);
  EXPECT_EQ(view.height, 67);
  EXPECT_EQ(view.pixel(50, 0), Eigen::Vector2d(151.5, 1.5));
  EXPECT_TRUE(view.has_alpha);
  EXPECT_EQ(view.rgba[50 * 4 + 3], 0);
  EXPECT_EQ(view.rgba[51 * 4 + 3], 255);
  ASSERT_EQ(view.depth.size(), 100u * 67u);
  EXPECT_EQ(view.depth[0], 2.0f);
  // Without an alpha channel, or with alpha 1 everywhere, nothing is transparent.
  EXPECT_FALSE(sample_bounds_view("v", camera, Image(300, 200, 3, 0.5f), nullptr).has_alpha);
  EXPECT_FALSE(sample_bounds_view("v", camera, Image(300, 200, 4, 1.0f), nullptr).has_alpha);
}

TEST(SilhouetteHull, HoldsTheObjectAndCarvesWhatViewsSeeAsBackground) {
  // Twelve views of a sphere of radius 0.66 (normalised) at the centre, from 2.64 out.
  RingScene ring = object_scene();
  std::vector<SilhouetteHull::View> views;
  for (int k = 0; k < ring.n_views; ++k) {
    SilhouetteHull::View view;
    view.camera = semfield::test::ring_camera(ring, k);
    view.camera.c2w.block<3, 1>(0, 3) *= kWorldToNormalised;
    view.width = view.height = ring.size;
    view.background.resize(static_cast<size_t>(ring.size) * ring.size);
    for (int y = 0; y < ring.size; ++y) {
      for (int x = 0; x < ring.size; ++x) {
        const Ray ray = view.camera.pixel_to_ray(x + 0.5, y + 0.5);
        const double b = ray.origin.dot(ray.direction);
        const bool hit = b * b - (ray.origin.squaredNorm() - 0.66 * 0.66) >= 0 && b < 0;
        view.background[static_cast<size_t>(y) * ring.size + x] = hit ? 0 : 1;
      }
    }
    views.push_back(std::move(view));
  }
  const SilhouetteHull hull(views, 48);
  EXPECT_TRUE(hull.contains(Eigen::Vector3d::Zero()));
  EXPECT_TRUE(hull.contains(Eigen::Vector3d(0.5, 0, 0)));
  EXPECT_FALSE(hull.contains(Eigen::Vector3d(1.2, 0, 0)));   // seen beside the sphere
  EXPECT_FALSE(hull.contains(Eigen::Vector3d(0, 0, 50)));    // seen by no view: not placed
  const auto hit = hull.place(Eigen::Vector3d(3, 0, 0), Eigen::Vector3d(-1, 0, 0));
  ASSERT_TRUE(hit.has_value());
  EXPECT_NEAR(hit->x(), 0.66, 0.2);  // within a cell and the silhouettes' one-cell margin
  EXPECT_FALSE(hull.place(Eigen::Vector3d(3, 0, 0), Eigen::Vector3d(1, 0, 0)).has_value());
}

TEST(SceneBounds, Lego200KeepsTheUnitBoxQuickly) {
  const fs::path lego = semfield::test::shared_dir() / "data" / "lego_200";
  SEMFIELD_REQUIRE_SHARED_FILE(lego / "transforms_train.json");
  LogCapture log;
  const Scene scene = load_scene(lego);
  EXPECT_EQ(scene.bounds.source, BoundsSource::Alpha);
  EXPECT_EQ(scene.bounds.views_sampled, 64);
  EXPECT_EQ(scene.bounds.aabb_scale, 1);
  EXPECT_LT(scene.bounds.content_extent.value_or(2), 1.0);
  EXPECT_FALSE(scene.unbounded);
  EXPECT_THAT(log.text(), Not(HasSubstr("aabb_scale")));
}

}  // namespace
