// A check shared by the tests of models that are their own semantic source (gp-nerf, gnesf with 2D maps): the one
// pass that renders a view's colour with its semantics (render_features_with_colour, what `semfield render` uses for
// them) gives what the two passes it replaces give — the scene model's render_view over the same background and the
// source's render_features.
#pragma once

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/view_renderer.h"

namespace semfield::test {

inline float max_abs_difference(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return INFINITY;
  float m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(a.pixels[i] - b.pixels[i]));
  return m;
}

inline void expect_colour_pass_matches_two_passes_at(const SemanticSource& source, const SceneModel& model,
                                                     const Camera& camera, const Eigen::Vector3f& background) {
  ASSERT_TRUE(source.renders_colour());
  const RenderedFeatures joint = render_features_with_colour(source, camera, background);
  ASSERT_TRUE(joint.view.has_value());
  const RenderedView colour = render_view(model, camera, background);
  const RenderedFeatures semantics = render_features(source, camera);
  EXPECT_LT(max_abs_difference(joint.view->rgb, colour.rgb), 1e-5f);
  EXPECT_LT(max_abs_difference(joint.view->opacity, colour.opacity), 1e-5f);
  EXPECT_LT(max_abs_difference(joint.view->depth, colour.depth), 1e-4f);
  ASSERT_EQ(joint.maps.size(), semantics.maps.size());
  for (size_t s = 0; s < joint.maps.size(); ++s)
    EXPECT_TRUE(at::allclose(joint.maps[s], semantics.maps[s], 1e-5, 1e-5)) << "scale " << s;
  EXPECT_TRUE(at::allclose(joint.opacity, semantics.opacity, 1e-5, 1e-5));
  EXPECT_EQ(joint.latent.defined(), semantics.latent.defined());
  if (joint.latent.defined()) {
    EXPECT_TRUE(at::allclose(joint.latent, semantics.latent, 1e-5, 1e-5));
  }
}

/// At `camera` (a view of the scene) and at the same camera turned to look away from it (its rays miss the scene:
/// the colour must be `background`, which should differ from the run's own).
inline void expect_colour_pass_matches_two_passes(const SemanticSource& source, const SceneModel& model,
                                                  const Camera& camera, const Eigen::Vector3f& background) {
  expect_colour_pass_matches_two_passes_at(source, model, camera, background);
  Camera away = camera;
  away.c2w.block<3, 1>(0, 0) *= -1.0;
  away.c2w.block<3, 1>(0, 2) *= -1.0;
  expect_colour_pass_matches_two_passes_at(source, model, away, background);
  const RenderedFeatures empty = render_features_with_colour(source, away, background);
  int64_t missed = 0;
  for (size_t i = 0; i < empty.view->opacity.pixels.size(); ++i) {
    if (empty.view->opacity.pixels[i] > 1e-4f) continue;
    ++missed;
    for (int c = 0; c < 3; ++c) ASSERT_NEAR(empty.view->rgb.pixels[3 * i + c], background[c], 1e-4f) << "pixel " << i;
  }
  EXPECT_GT(missed, 0) << "the turned camera should see past the scene";
}

}  // namespace semfield::test
