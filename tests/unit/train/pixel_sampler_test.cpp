// Tests for the training-ray sampler's 8-bit image store: it returns the files' pixels on the rays through them,
// decodes views loaded without pixels as the loader would, and a rotating subset stays under its memory cap.
#include "semfield/train/pixel_sampler.h"

#include <set>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.h"
#include "unit/data/ring_scene.h"
#include "unit/data/scene_test_util.h"

namespace {

using namespace semfield;
using semfield::test::TempDir;
using ::testing::HasSubstr;

// A NeRF-synthetic scene of `n` ring cameras whose RGBA images encode their pixel: red x/255, green y/255.
void write_coded_scene(const std::filesystem::path& dir, int n, int size) {
  semfield::test::RingScene ring;
  ring.n_views = n;
  ring.size = size;
  std::string frames;
  for (int k = 0; k < n; ++k) {
    semfield::test::write_test_png(dir / "train" / fmt::format("r_{}.png", k), size, size, 4);
    frames += fmt::format(R"({}{{"file_path": "./train/r_{}", "transform_matrix": {}}})", k ? ", " : "", k,
                          semfield::test::matrix_json(semfield::test::ring_camera(ring, k).c2w));
  }
  semfield::test::write_text(dir / "transforms_train.json",
                             fmt::format(R"({{"camera_angle_x": 1.2, "aabb_scale": 4, "frames": [{}]}})", frames));
}

LoadOptions without_pixels() {
  LoadOptions load;
  load.load_images = false;
  load.load_extras = false;
  return load;
}

TEST(PixelSampler, SampledColoursAreTheFilesPixelsOnTheRaysThroughThem) {
  TempDir dir;
  write_coded_scene(dir.path(), 3, 20);
  const Scene scene = load_scene(dir.path(), without_pixels());
  const auto views = scene.split(Split::Train);
  const LoadOptions reload;
  PixelSamplerOptions options;
  options.reload = &reload;
  const PixelSampler sampler(views, options);
  EXPECT_EQ(sampler.n_pixels(), 3 * 20 * 20);
  EXPECT_EQ(sampler.resident_bytes(), 3 * 20 * 20 * kStoreBytesPerPixel);
  const RayBatch batch = sampler.sample(400, 7);
  const auto rgba = batch.rgba.accessor<float, 2>();
  const auto o = batch.origins.accessor<float, 2>();
  const auto d = batch.directions.accessor<float, 2>();
  for (int64_t i = 0; i < 400; ++i) {
    // Exactly the file's 8-bit values, as read_image gives them (k / 255.0f, bit for bit).
    const int x = static_cast<int>(std::lround(rgba[i][0] * 255.0f)), y = static_cast<int>(std::lround(rgba[i][1] * 255.0f));
    ASSERT_EQ(rgba[i][0], static_cast<float>(x) / 255.0f);
    ASSERT_EQ(rgba[i][1], static_cast<float>(y) / 255.0f);
    ASSERT_EQ(rgba[i][2], 128.0f / 255.0f);
    ASSERT_FLOAT_EQ(rgba[i][3], x == 0 && y == 0 ? 0.0f : 1.0f);
    // The ray leaves the camera of some view through that pixel (within the pixel: jittered inside it).
    bool found = false;
    for (const View* v : views) {
      if ((v->camera.origin().cast<float>() - Eigen::Vector3f(o[i][0], o[i][1], o[i][2])).norm() > 1e-4f) continue;
      const Eigen::Vector3d centre = v->camera.pixel_to_ray(x + 0.5, y + 0.5).direction.normalized();
      const Eigen::Vector3d next = v->camera.pixel_to_ray(x + 1.5, y + 0.5).direction.normalized();
      const Eigen::Vector3d dir = Eigen::Vector3d(d[i][0], d[i][1], d[i][2]).normalized();
      const double pixel_angle = std::acos(std::min(1.0, centre.dot(next)));  // half a diagonal is 0.71 of it
      found = found || std::acos(std::min(1.0, centre.dot(dir))) < 0.75 * pixel_angle;
    }
    ASSERT_TRUE(found) << "ray " << i << " does not pass through pixel " << x << "," << y;
  }
}

TEST(PixelSampler, DecodesViewsAsTheLoaderDoes) {
  TempDir dir;
  write_coded_scene(dir.path(), 2, 24);
  for (const int downscale : {1, 2}) {
    for (const bool white : {false, true}) {
      LoadOptions full;
      full.downscale = downscale;
      if (white) full.background = Eigen::Vector3d(1, 1, 1);
      LoadOptions lazy = without_pixels();
      lazy.downscale = downscale;
      lazy.background = full.background;
      const Scene loaded = load_scene(dir.path(), full), deferred = load_scene(dir.path(), lazy);
      ASSERT_EQ(loaded.views.size(), deferred.views.size());
      EXPECT_EQ(deferred.background.has_value(), white);
      for (size_t k = 0; k < loaded.views.size(); ++k) {
        EXPECT_TRUE(deferred.views[k].rgb.empty());
        EXPECT_TRUE(deferred.views[k].has_alpha());
        const Image colour = load_view_colour(deferred.views[k], full);
        EXPECT_EQ(colour.channels, white ? 3 : 4);
        EXPECT_EQ(colour.pixels, loaded.views[k].rgb.pixels) << downscale << white;
      }
      // The same rays and colours from the loaded images and from the store decoding them.
      PixelSamplerOptions options;
      options.reload = &full;
      const RayBatch a = PixelSampler(loaded.split(Split::Train)).sample(300, 3);
      const RayBatch b = PixelSampler(deferred.split(Split::Train), options).sample(300, 3);
      EXPECT_TRUE(at::equal(a.origins, b.origins));
      EXPECT_TRUE(at::equal(a.directions, b.directions));
      EXPECT_TRUE(at::equal(a.rgba, b.rgba));
      // 8-bit storage: within half a level of the float pixels (downscaled colours are averages).
      EXPECT_LE(at::max(at::abs(a.rgba - b.rgba)).item<float>(), 0.5f / 255.0f + 1e-6f);
    }
  }
}

TEST(PixelSampler, RotatingSubsetStaysUnderTheCapAndVisitsEveryView) {
  TempDir dir;
  write_coded_scene(dir.path(), 10, 16);
  const Scene scene = load_scene(dir.path(), without_pixels());
  const auto views = scene.split(Split::Train);
  const int64_t view_bytes = 16 * 16 * kStoreBytesPerPixel;
  const LoadOptions reload;
  PixelSamplerOptions options;
  options.reload = &reload;
  options.memory_cap_bytes = 4 * view_bytes - 1;  // room for three views
  options.rotate_every = 50;
  options.seed = 5;
  PixelSampler sampler(views, options);
  const ImageMemoryPlan& plan = sampler.plan();
  EXPECT_TRUE(plan.rotating());
  EXPECT_EQ(plan.resident_views, 3);
  EXPECT_EQ(plan.rotate_views, 1);  // a quarter of three, at least one
  EXPECT_EQ(plan.store_bytes, 10 * view_bytes);
  EXPECT_LE(plan.resident_bytes_max, options.memory_cap_bytes);
  EXPECT_THAT(plan.describe(), HasSubstr("a rotating subset of 3 views"));

  std::set<int> visited;
  int changes = 0;
  for (int64_t step = 0; step < 600; ++step) {
    changes += sampler.advance(step) ? 1 : 0;
    ASSERT_LE(sampler.resident_bytes(), options.memory_cap_bytes);
    const std::vector<int> resident = sampler.resident_views();
    ASSERT_EQ(resident.size(), 3u);
    visited.insert(resident.begin(), resident.end());
    if (step % 50 == 7) {
      // Rays come from resident views only.
      const RayBatch batch = sampler.sample(64, static_cast<uint64_t>(step));
      const auto o = batch.origins.accessor<float, 2>();
      for (int64_t i = 0; i < 64; ++i) {
        bool from_resident = false;
        for (const int v : resident)
          from_resident |= (views[static_cast<size_t>(v)]->camera.origin().cast<float>() -
                            Eigen::Vector3f(o[i][0], o[i][1], o[i][2])).norm() < 1e-4f;
        ASSERT_TRUE(from_resident) << step;
      }
    }
  }
  EXPECT_EQ(changes, 11);  // steps 50, 100, ..., 550
  EXPECT_EQ(visited.size(), 10u);
  EXPECT_LE(sampler.peak_bytes(), options.memory_cap_bytes);
  // The automatic interval: one 256-pixel view per rotation decodes far below the per-step budget, so as often as
  // allowed (every 10 steps).
  PixelSamplerOptions automatic = options;
  automatic.rotate_every = 0;
  EXPECT_EQ(PixelSampler(views, automatic).plan().rotate_every, 10);

  // The subset is a function of the step: a sampler started at step 420 (a resumed run) holds what this one held.
  PixelSamplerOptions resumed = options;
  resumed.start_step = 420;
  PixelSampler later(views, resumed);
  PixelSampler again(views, options);
  again.advance(420);
  std::vector<int> a = later.resident_views(), b = again.resident_views();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
}

TEST(PixelSampler, RefusesACapBelowOneViewAndViewsItCannotDecode) {
  TempDir dir;
  write_coded_scene(dir.path(), 2, 16);
  const Scene scene = load_scene(dir.path(), without_pixels());
  const LoadOptions reload;
  PixelSamplerOptions options;
  options.reload = &reload;
  options.memory_cap_bytes = 100;
  try {
    PixelSampler sampler(scene.split(Split::Train), options);
    ADD_FAILURE() << "no UsageError";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("smaller than one training view"));
  }
  EXPECT_THAT(semfield::test::input_error_of([&] { PixelSampler sampler(scene.split(Split::Train)); }),
              HasSubstr("r_0.png: image not loaded"));
  // A file that changed size since loading is named.
  semfield::test::write_test_png(dir / "train" / "r_1.png", 8, 8, 4);
  options.memory_cap_bytes = 0;
  EXPECT_THAT(semfield::test::input_error_of([&] { PixelSampler sampler(scene.split(Split::Train), options); }),
              HasSubstr("r_1.png: image is 8x8 after downscaling by 1 but its camera is 16x16"));
}

}  // namespace
