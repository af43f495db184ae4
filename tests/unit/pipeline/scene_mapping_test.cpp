// renormalize_scene maps cameras and depth between two normalisations of the same file coordinates.
#include "semfield/pipeline/scene_mapping.h"

#include <gtest/gtest.h>

using namespace semfield;

TEST(SceneMapping, CamerasLandWhereTheTargetNormalisationPutsThem) {
  Scene scene;
  scene.normalization.scale = 0.5;
  scene.normalization.offset = {1, 0, 0};
  View v;
  v.camera.c2w.block<3, 1>(0, 3) = scene.normalization.apply({2, 4, 6});
  v.depth = Image(2, 1, 1, 3.0f);
  scene.views.push_back(v);
  scene.aabb = Eigen::AlignedBox3d(Eigen::Vector3d(-1, -1, -1), Eigen::Vector3d(1, 1, 1));

  Normalization target;
  target.scale = 2.0;
  target.offset = {0, 0, -1};
  renormalize_scene(scene, target);
  const Eigen::Vector3d expected = target.apply({2, 4, 6});
  EXPECT_LT((scene.views[0].camera.origin() - expected).norm(), 1e-12);
  EXPECT_FLOAT_EQ(scene.views[0].depth->pixels[0], 12.0f);  // 3 * (2 / 0.5)
  EXPECT_DOUBLE_EQ(scene.normalization.scale, 2.0);
  // The box covers the same file-space region.
  EXPECT_LT((scene.aabb.min() - target.apply(Eigen::Vector3d(-4, -2, -2))).norm(), 1e-12);
}
