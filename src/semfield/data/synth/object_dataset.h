// Category datasets of `semfield synth --category`: K instances of one object category, each a NeRF-synthetic
// folder with part maps, 3D keypoints and their projections, and surface point samples (see docs/formats.md).
//
// out/category.json            category, part names, keypoint names, instance folders, camera layout
// out/instance_<kkk>/           instance k (shape, materials and light from seed + k):
//   transforms_train.json, transforms_test.json, train/r_<i>*.png, test/r_<i>*.png   as write_synth_scene writes
//       them (RGBA with alpha 0 on the background, no ground; 16-bit depth; instance map = 1 + primitive index;
//       semantic map = part id, 0 = background); test views are numbered after the training ones
//   labels.json                 classes: background (0) and the parts; instances: one per primitive
//   scene.json                  the instance's description (primitives with their parts, keypoints, light)
//   keypoints.json              3D keypoints and, per view ("r_<i>", unique over both splits), their pixels
//   train/r_<i>_keypoints.json  the visible keypoints of a view in `semfield transfer --keypoints` format
//   points.npy, points_labels.npy  float32 [N,3] surface samples (world frame) and int32 [N] part ids
//
// Frames: the world frame is the category's canonical frame (categories.h): the object's bounding box is centred
// at the origin with its longest edge 1. Cameras (c2w, OpenGL axes) are the SAME for every instance of a dataset
// (derived from config.seed alone), so view r_i of two instances has the identical pose.
#pragma once

#include <cstdint>
#include <string>
#include <filesystem>
#include <functional>
#include <vector>

#include "semfield/data/synth/categories.h"
#include "semfield/data/synth/ray_tracer.h"
#include "semfield/data/synth/synth_scene.h"

namespace semfield {

struct ObjectDatasetConfig {
  synth::ObjectCategory category = synth::ObjectCategory::Chair;
  int n_instances = 20;  ///< >= 1; instance k uses seed + k for its shape, materials and light
  int n_views = 50;      ///< training views (>= 1); test views: n_test_views()
  int resolution = 128;  ///< square image side, 8..4096
  uint64_t seed = 0;     ///< also the only seed of the camera layout
  int n_points = 4096;   ///< surface samples per instance (>= 1)
  /// Rendering style, as SynthConfig::style: "lambert" (default, every training set) or "studio" (the second
  /// renderer: same instances, cameras and ground truth; its lights from each instance's seed).
  std::string style = "lambert";

  /// max(4, n_views / 5), as for the tabletop scenes.
  int n_test_views() const;
  /// Throws UsageError naming the first option out of range.
  void validate() const;
};

/// The camera layout shared by all instances: every camera looks at the origin from kObjectCameraRadius with a
/// horizontal field of view of kObjectFovDegrees. Training cameras lie on a golden-angle spiral over elevations
/// 5..80 degrees (uniform in sin(elevation)), test cameras on a ring at elevations 10..70 degrees offset in azimuth.
/// The radius keeps the bounding sphere of any normalised object (radius <= sqrt(3)/2) inside the frame.
constexpr double kObjectCameraRadius = 2.6;
constexpr double kObjectFovDegrees = 40.0;
constexpr double kObjectTrainElevationMin = 5.0, kObjectTrainElevationMax = 80.0;
constexpr double kObjectTestElevationMin = 10.0, kObjectTestElevationMax = 70.0;

/// One instance, ready to render: the scene holds one SynthObject per primitive (instance id = index + 1,
/// class id = part id), the instance's light and the dataset's cameras.
struct ObjectInstance {
  uint64_t seed = 0;
  synth::CategoryObject object;
  SynthScene scene;
};
/// Builds instance `index` of the dataset (config validated first).
ObjectInstance make_object_instance(const ObjectDatasetConfig& config, int index);

/// A keypoint seen from a camera. `xy` is in the click convention (pixel centres at integers: x = u - 0.5 for the
/// continuous image coordinate u of Camera::pixel_to_ray); in_frame: in front of the camera and 0 <= x <= w - 1,
/// 0 <= y <= h - 1; visible: in frame and nothing lies on the ray from the camera centre to the keypoint before
/// distance - (1e-3 * distance + 2e-3).
struct KeypointView {
  Eigen::Vector2d xy = Eigen::Vector2d::Zero();
  double depth = 0.0;  ///< z-depth along the camera axis (world units)
  bool in_frame = false;
  bool visible = false;
};
KeypointView project_keypoint(const synth::RayTracer& tracer, const Camera& camera, const Eigen::Vector3d& point);

/// What was written for one instance (for the CLI's summary line).
struct ObjectInstanceSummary {
  std::filesystem::path dir;
  uint64_t seed = 0;
  int n_primitives = 0, n_keypoints = 0, n_train = 0, n_test = 0, resolution = 0;
  double mean_visible = 0.0;  ///< visible keypoints per view, averaged over all views
  double seconds = 0.0;
};

/// Writes out/category.json and out/instance_000 .. instance_{K-1}, showing a progress bar per instance;
/// `on_instance` (optional) is called after each. UsageError for a bad config, InputError if a file cannot be
/// written.
std::vector<ObjectInstanceSummary> write_object_dataset(
    const ObjectDatasetConfig& config, const std::filesystem::path& out,
    const std::function<void(const ObjectInstanceSummary&)>& on_instance = {});

}  // namespace semfield
