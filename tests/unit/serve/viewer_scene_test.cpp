// selection_at_surface: which pixels of a rendered view show a surface point inside a 3D selection.
#include "semfield/serve/viewer_scene.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/types.h>

#include "semfield/segment/selection.h"

namespace semfield {
namespace {

TEST(ViewerScene, SelectionAtSurfaceLiftsEachPixelToItsRenderedZDepth) {
  // A wide pinhole camera 2 units above the plane z = 0, looking straight down at it: every pixel's z-depth is 2, and
  // its surface point lies on the plane only if the z-depth is converted to the distance along the (oblique) ray.
  Camera camera;
  camera.intrinsics.width = 32;
  camera.intrinsics.height = 24;
  camera.intrinsics.fx = camera.intrinsics.fy = 12.0;
  camera.intrinsics.cx = 16.0;
  camera.intrinsics.cy = 12.0;
  camera.c2w(2, 3) = 2.0;
  const int64_t h = 24, w = 32;
  at::Tensor depth = torch::full({h, w}, 2.0f), opacity = torch::ones({h, w});
  opacity[3].fill_(0.2f);  // a row the render left transparent
  depth[5].fill_(0.0f);    // a row with no surface

  // Selected: a slab 0.5 thick around the plane, x > 0 only.
  Selection selection(Eigen::Vector3f(-2.0f, -2.0f, -0.5f), Eigen::Vector3f(2.0f, 2.0f, 0.5f), 16);
  ASSERT_NEAR(selection.voxel_size(), 0.25f, 1e-6f);
  const at::Tensor centres = selection.voxel_centres();
  const at::Tensor chosen = centres.select(1, 0).gt(0.0f) & centres.select(1, 2).abs().lt(0.25f);
  selection.positive().view({-1}).masked_fill_(chosen, 10.0f);
  ASSERT_GT(selection.selected_count(), 0);

  const at::Tensor mask = selection_at_surface(selection, camera, depth, opacity);
  ASSERT_EQ(mask.sizes(), at::IntArrayRef({h, w}));
  int64_t checked_in = 0, checked_out = 0;
  for (int64_t v = 0; v < h; ++v)
    for (int64_t u = 0; u < w; ++u) {
      const double x = (static_cast<double>(u) + 0.5 - 16.0) / 12.0 * 2.0;  // the pixel's point on the plane
      const double y = -(static_cast<double>(v) + 0.5 - 12.0) / 12.0 * 2.0;
      const bool on = mask[v][u].item<bool>();
      if (v == 3 || v == 5) {
        EXPECT_FALSE(on) << "row " << v << " has no opaque surface";
        continue;
      }
      if (std::abs(y) > 1.2) continue;
      // Off the axis the checked rays run at up to ~43 degrees to it: read as a distance, the z-depth would put the
      // point up to ~0.5 above the plane, out of the slab.
      if (x > 0.4 && x < 1.6) {
        EXPECT_TRUE(on) << "pixel " << u << "," << v << " (x " << x << ")";
        ++checked_in;
      } else if (x < -0.4) {
        EXPECT_FALSE(on) << "pixel " << u << "," << v << " (x " << x << ")";
        ++checked_out;
      }
    }
  EXPECT_GT(checked_in, 50);
  EXPECT_GT(checked_out, 50);
}

}  // namespace
}  // namespace semfield
