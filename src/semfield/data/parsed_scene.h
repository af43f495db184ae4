// What a format parser hands to load_scene: posed frames in the file's own world frame, before the
// shared post-processing (splits, normalisation, image loading, downscaling, extras).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "semfield/data/scene.h"
#include "semfield/geometry/camera.h"

namespace semfield {

/// One posed image as a parser found it.
struct FrameRecord {
  std::string name;                  ///< image stem ("r_12"); made unique by load_scene
  std::filesystem::path image_path;  ///< an existing file (in ParsedScene::imageless: the path named, no file there)
  Camera camera;                     ///< file world coordinates, OpenGL camera-to-world, full-resolution
                                     ///< intrinsics (width/height as the image file must have them)
  std::optional<Split> split;        ///< set when the format assigns splits
  std::filesystem::path depth_path, mask_path, instance_path, semantic_path;  ///< empty = none
  std::filesystem::path source;      ///< the file that described this frame (for messages)
  std::string field;                 ///< where in it: "frames[3]", "image 7 (IMG_0007.JPG)", "row 2"
};

/// How a format places its scene, which decides the normalised frame (docs/formats.md).
enum class Framing {
  UnitCube,    ///< NeRF-synthetic / instant-ngp: scale/offset map the scene into [0,1]^3
  RealCapture  ///< nerfstudio / COLMAP / LLFF: centre on the cameras, farthest camera at distance 1
};

struct ParsedScene {
  std::string format;           ///< Scene::format
  std::filesystem::path root;   ///< the folder the user named (labels.json is looked up here)
  std::vector<FrameRecord> frames;
  /// Frames of a split file (NeRF-synthetic) whose image is missing: their cameras only, sized by the file's "w" / "h"
  /// or else like the scene's first image; load_scene keeps them as Scene::imageless.
  std::vector<FrameRecord> imageless;
  bool splits_from_files = false;  ///< every frame carries a split assigned by the format
  SplitRule auto_rule;             ///< what SplitRule::Kind::Auto means when the format does not split
  Framing framing = Framing::RealCapture;
  double unit_cube_scale = 0.33;   ///< instant-ngp "scale" (UnitCube only)
  Eigen::Vector3d unit_cube_offset = Eigen::Vector3d::Constant(0.5);  ///< instant-ngp "offset"
  std::optional<double> aabb_scale;  ///< instant-ngp "aabb_scale" (UnitCube only); none: the file gives none
  std::filesystem::path framing_source;  ///< the file holding scale/offset/aabb_scale (UnitCube; for messages)
  double depth_unit_scale = 0.001; ///< file depth value -> world units
  double near = 0.0, far = 0.0;    ///< ray range hint in file world units (0 = none)
};

}  // namespace semfield
