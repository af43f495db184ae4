// Solid backdrops: the uniform-border test and the flood-filled key.
#include "semfield/data/backdrop.h"

#include <gtest/gtest.h>

#include "semfield/data/scene.h"
#include "unit/data/ring_scene.h"

namespace semfield {
namespace {

// A 12 x 10 image on a blue backdrop: a grey object (a ring around a blue hole in its middle) and a blue pixel
// blended with the object at its edge.
Image object_on_blue() {
  Image im(12, 10, 3);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12; ++x) im.at(x, y, 0) = 0.2f, im.at(x, y, 1) = 0.4f, im.at(x, y, 2) = 0.8f;
  for (int y = 3; y <= 7; ++y)
    for (int x = 3; x <= 8; ++x)
      if (!(y == 5 && (x == 5 || x == 6))) im.at(x, y, 0) = im.at(x, y, 1) = im.at(x, y, 2) = 0.5f;
  im.at(2, 5, 0) = 0.3f;  // a silhouette pixel half way between the backdrop and the object
  im.at(2, 5, 1) = 0.45f;
  im.at(2, 5, 2) = 0.65f;
  return im;
}

TEST(Backdrop, AUniformBorderGivesItsColourAVariedOneNothing) {
  const Image im = object_on_blue();
  const auto colour = uniform_border_colour(im);
  ASSERT_TRUE(colour.has_value());
  EXPECT_NEAR(colour->x(), 0.2, 1e-6);
  EXPECT_NEAR(colour->z(), 0.8, 1e-6);
  Image varied = im;
  varied.at(11, 9, 0) = 0.9f;  // one corner of another colour: the spread over 40 border pixels exceeds 0.02
  EXPECT_FALSE(uniform_border_colour(varied).has_value());
  EXPECT_FALSE(uniform_border_colour(Image(1, 5, 3)).has_value());
}

TEST(Backdrop, TheKeyFillsFromTheBorderAndKeepsEnclosedBackdropColour) {
  const std::optional<Image> keyed = key_uniform_backdrop(object_on_blue());
  ASSERT_TRUE(keyed.has_value());
  ASSERT_EQ(keyed->channels, 4);
  EXPECT_EQ(keyed->at(0, 0, 3), 0.0f);   // backdrop
  EXPECT_EQ(keyed->at(11, 9, 3), 0.0f);
  EXPECT_EQ(keyed->at(4, 4, 3), 1.0f);   // object
  EXPECT_EQ(keyed->at(5, 5, 3), 1.0f);   // backdrop-coloured, but enclosed by the object: not reached
  EXPECT_EQ(keyed->at(2, 5, 3), 1.0f);   // the blended silhouette pixel (0.15 from the backdrop) stays opaque
  EXPECT_EQ(keyed->at(4, 4, 0), 0.5f);   // colours unchanged
  int transparent = 0;
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12; ++x) transparent += keyed->at(x, y, 3) == 0.0f;
  EXPECT_EQ(transparent, 120 - 30 - 1);  // all but the 6 x 5 object block and the silhouette pixel
  // Images with transparency, or with a varied border, are left alone; an RGBA image opaque everywhere (as many
  // exporters write) is keyed like its RGB.
  EXPECT_TRUE(has_transparency(*keyed));
  EXPECT_FALSE(key_uniform_backdrop(*keyed).has_value());
  Image opaque = *keyed;
  for (size_t i = 3; i < opaque.pixels.size(); i += 4) opaque.pixels[i] = 1.0f;
  EXPECT_FALSE(has_transparency(opaque));
  const std::optional<Image> rekeyed = key_uniform_backdrop(opaque);
  ASSERT_TRUE(rekeyed.has_value());
  EXPECT_EQ(rekeyed->pixels, keyed->pixels);
  EXPECT_FALSE(has_transparency(object_on_blue()));
  Image varied = object_on_blue();
  for (int x = 0; x < 12; ++x) varied.at(x, 9, 1) = x / 11.0f;  // a gradient along the bottom row
  EXPECT_FALSE(key_uniform_backdrop(varied).has_value());
}

TEST(Backdrop, ADarkObjectOnBlackKeepsItsShading) {
  // A rendered backdrop is exactly uniform: the tolerance is its floor, 0.02 (~5 / 255), so an object shaded
  // 0.03 above black stays opaque; a noisy border (a JPEG's) widens it, up to 0.08.
  Image im(16, 16, 3, 0.0f);
  for (int y = 4; y < 12; ++y)
    for (int x = 4; x < 12; ++x) im.at(x, y, 0) = im.at(x, y, 1) = im.at(x, y, 2) = 0.03f;
  const std::optional<Image> keyed = key_uniform_backdrop(im);
  ASSERT_TRUE(keyed.has_value());
  int opaque = 0;
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) opaque += keyed->at(x, y, 3) == 1.0f;
  EXPECT_EQ(opaque, 64);
  Image noisy = im;  // border noise of standard deviation ~0.01: the tolerance grows to ~0.04 and takes the object
  for (int x = 0; x < 16; ++x) noisy.at(x, 0, 0) = (x % 2) ? 0.02f : 0.0f, noisy.at(x, 15, 0) = (x % 2) ? 0.0f : 0.02f;
  const std::optional<Image> noisy_keyed = key_uniform_backdrop(noisy);
  ASSERT_TRUE(noisy_keyed.has_value());
  EXPECT_EQ(noisy_keyed->at(8, 8, 3), 0.0f);
}

// The loader keys RGB images on a white backdrop (LoadOptions::key_backdrop) into the alpha the same scene rendered
// with alpha has, on both decoding paths; images with a varied background stay RGB.
TEST(Backdrop, TheLoaderKeysWhatTheRendererLeftTransparent) {
  test::TempDir with_alpha, on_white, on_sky;
  test::RingScene ring;
  ring.spheres = {{Eigen::Vector3d::Zero(), 1.0}};
  ring.n_views = 4;
  ring.size = 32;
  test::write_ring_scene(with_alpha.path(), ring);
  ring.background = test::RingScene::Background::White;
  test::write_ring_scene(on_white.path(), ring);
  ring.background = test::RingScene::Background::Opaque;
  test::write_ring_scene(on_sky.path(), ring);
  LoadOptions keyed;
  keyed.key_backdrop = true;
  const Scene truth = load_scene(with_alpha.path()), white = load_scene(on_white.path(), keyed);
  ASSERT_EQ(truth.views.size(), white.views.size());
  // Keyed before bounds inference: the box and frame are those of the render with alpha (unkeyed, the white images
  // are opaque to their borders, which bounds an unbounded scene).
  EXPECT_EQ(white.unbounded, truth.unbounded);
  EXPECT_TRUE(white.aabb.min().isApprox(truth.aabb.min()));
  EXPECT_TRUE(white.aabb.max().isApprox(truth.aabb.max()));
  EXPECT_DOUBLE_EQ(white.normalization.scale, truth.normalization.scale);
  for (size_t i = 0; i < truth.views.size(); ++i) {
    const Image& a = truth.views[i].rgb;
    const Image& b = white.views[i].rgb;
    ASSERT_EQ(a.channels, 4);
    ASSERT_EQ(b.channels, 4) << "view " << i;
    for (int y = 0; y < a.height; ++y)
      for (int x = 0; x < a.width; ++x) ASSERT_EQ(b.at(x, y, 3), a.at(x, y, 3)) << "view " << i << " " << x << "," << y;
    EXPECT_EQ(load_view_colour(white.views[i], keyed).pixels, b.pixels);  // the on-demand decoder keys alike
  }
  // Verifying without keeping pixels (`info`) keys alike: the same box, and alpha for every view.
  LoadOptions verified = keyed;
  verified.load_images = false;
  verified.verify_files = true;
  const Scene checked = load_scene(on_white.path(), verified);
  EXPECT_TRUE(checked.aabb.min().isApprox(truth.aabb.min()));
  EXPECT_TRUE(checked.aabb.max().isApprox(truth.aabb.max()));
  for (const View& view : checked.views) {
    EXPECT_TRUE(view.rgb.empty());
    EXPECT_TRUE(view.has_alpha()) << view.name;
  }
  verified.key_backdrop = false;
  EXPECT_FALSE(load_scene(on_white.path(), verified).views[0].has_alpha());
  EXPECT_EQ(load_scene(on_white.path()).views[0].rgb.channels, 3);  // not asked: unchanged
  EXPECT_EQ(load_scene(on_sky.path(), keyed).views[0].rgb.channels, 3);  // a varied backdrop: unchanged
}

}  // namespace
}  // namespace semfield
