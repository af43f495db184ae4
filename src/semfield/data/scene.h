// The in-memory scene every loader produces and every model consumes: views, cameras, images and extras.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"

namespace semfield {

enum class Split { Train, Val, Test };
const char* split_name(Split split);
/// Parses "train" | "val" | "test"; anything else is a UsageError.
Split parse_split(const std::string& name);

/// One posed image with its optional per-pixel extras, all at the (downscaled) image resolution.
struct View {
  std::string name;                  ///< image stem, e.g. "r_12" (unique within the scene)
  std::filesystem::path image_path;  ///< as resolved on disk
  Split split = Split::Train;
  Camera camera;                     ///< in *normalised* scene coordinates (see Scene::normalization)
  Image rgb;                         ///< H x W x 3 or 4 (RGBA kept unless a background was requested), [0,1]
  std::optional<Image> mask;         ///< H x W x 1, 1 = valid/foreground
  std::optional<Image> depth;        ///< H x W x 1, z-depth in normalised scene units, 0 = unknown
  std::optional<Image> instance;     ///< H x W x 1 integer ids (raw), 0 = background/none
  std::optional<Image> semantic;     ///< H x W x 1 integer class ids (raw)
  /// Files of the extras the format declares for this view (empty = none); recorded even when the
  /// pixels are not loaded (LoadOptions::load_images/load_extras false), so `info` can count them.
  std::filesystem::path depth_path, mask_path, instance_path, semantic_path;
  /// Whether the image file has alpha, for views loaded without pixels (LoadOptions::load_images false):
  /// read from its header (the backdrop key not tried), or, where the files are verified (LoadOptions::verify_files),
  /// from the decoded image after the backdrop key (LoadOptions::key_backdrop).
  bool alpha_on_disk = false;
  /// The factor its pixels are (or, not loaded, will be) downscaled by from the file (LoadOptions::downscale).
  int downscale = 1;
  /// Whether its backdrop is (or, decoded later, is to be) keyed out (LoadOptions::key_backdrop).
  bool key_backdrop = false;
  /// Whether the key took on its decoded image (a uniform backdrop became alpha): known where the loader decoded it
  /// (pixels loaded, or files verified).
  bool backdrop_keyed = false;

  /// Whether the colour has (or, not loaded, will have) an alpha channel.
  bool has_alpha() const { return rgb.empty() ? alpha_on_disk : rgb.channels == 4; }
};

/// The camera of a frame whose image file is missing (NeRF-synthetic folders): no pixels, so not a view — a target
/// for `render` and `transfer` (an image-conditioned model renders any camera from its source views).
struct ImagelessCamera {
  std::string name;  ///< the frame's image stem, unique among the views' names
  Split split = Split::Test;
  Camera camera;     ///< normalised scene coordinates, like the views' (intrinsics downscaled like theirs)
};

/// An entry of labels.json: what an instance or class id means.
struct Label {
  int id = 0;
  std::string name;
  std::string class_name;
  int class_id = -1;  ///< semantic class id of an instance, -1 if not given
  std::optional<Eigen::AlignedBox3d> bbox;  ///< world-space (original coordinates) 3D bounding box
};

/// Maps original (file) world coordinates to the normalised frame models work in:
/// p_normalised = scale * p_original + offset.
struct Normalization {
  double scale = 1.0;
  Eigen::Vector3d offset = Eigen::Vector3d::Zero();
  Eigen::Vector3d apply(const Eigen::Vector3d& p) const { return scale * p + offset; }
  Eigen::Vector3d invert(const Eigen::Vector3d& p) const { return (p - offset) / scale; }
};

/// Where the modelled box (Scene::aabb) came from.
enum class BoundsSource {
  File,        ///< the transforms file's "aabb_scale"
  Depth,       ///< inferred from back-projected depth maps
  Alpha,       ///< inferred from the images' alpha (opaque pixels' rays, silhouettes)
  Background,  ///< inferred like Alpha, with the images' uniform background colour standing in for alpha
  Opaque,      ///< images opaque to their borders and no depth: the background is unbounded
  Default,     ///< nothing to infer from (every sampled pixel transparent): aabb_scale 1
  Cameras      ///< real captures: the contracted space around the cameras ([-2,2]^3), not inferred
};
/// "file", "depth", "alpha", "background", "opaque", "default", "cameras".
const char* bounds_source_name(BoundsSource source);

/// How the modelled box was chosen (docs/formats.md, "Scene bounds"). For NeRF-synthetic / instant-ngp
/// scenes whose file gives no "aabb_scale", load_scene infers one from what the views show.
struct SceneBounds {
  double aabb_scale = 1.0;  ///< aabb = [-aabb_scale, aabb_scale]^3 (real captures: 2, the contracted space)
  BoundsSource source = BoundsSource::Default;
  /// What content_extent was measured from (Depth, Alpha, Background, Opaque), or Default when nothing was.
  /// Equals `source` unless the file gives the box.
  BoundsSource evidence = BoundsSource::Default;
  /// How far from the centre (L-inf norm, normalised units) visible content reaches: a robust high
  /// percentile of the sampled content; none when unknown (unbounded background, nothing visible).
  std::optional<double> content_extent;
  int views_sampled = 0;  ///< views the evidence came from
};

/// A file of the scene that cannot be used, found by LoadOptions::verify_files.
struct FileProblem {
  std::filesystem::path path;  ///< the image or map at fault
  std::string message;         ///< the InputError loading it would throw (names the file and key)
};

struct Scene {
  std::filesystem::path root;   ///< the folder the scene was loaded from
  std::string format;           ///< "blender", "instant-ngp", "nerfstudio", "colmap", "llff", "semfield-synth"
  std::vector<View> views;
  std::vector<ImagelessCamera> imageless;  ///< cameras of frames without an image (render / transfer targets)
  std::map<int, Label> instance_labels;  ///< from labels.json "instances" (id -> label)
  std::map<int, Label> semantic_labels;  ///< from labels.json "classes" (class id -> label)

  Normalization normalization;  ///< original -> normalised coordinates (already applied to cameras)
  Eigen::AlignedBox3d aabb;     ///< region to model, in normalised coordinates
  bool unbounded = false;       ///< real capture with content beyond the aabb (use scene contraction)
  double near = 0.0, far = 0.0; ///< ray range hint in normalised units (0 = derive from aabb)
  std::optional<Eigen::Vector3d> background;  ///< background colour if RGBA images were composited
  SceneBounds bounds;           ///< how `aabb` was chosen
  /// Why labels.json was ignored (its InputError message: file and key path), empty when it was read or
  /// there is none. A labels.json in another tool's schema must not stop RGB training; code that needs
  /// the labels calls require_labels().
  std::string labels_error;
  /// Files that cannot be decoded or fail loading's checks (only with LoadOptions::verify_files).
  std::vector<FileProblem> unreadable;

  std::vector<const View*> split(Split which) const;
  size_t count(Split which) const;
  /// Finds a view by image stem ("r_12") or "split:index" ("test:0"); UsageError listing examples if none.
  const View& find_view(const std::string& name) const;
  /// Throws InputError with labels_error when labels.json exists but could not be read; `user` says who
  /// needs it ("labels:instance"). Does nothing otherwise (a scene without labels.json has no names).
  void require_labels(const std::string& user) const;
};

/// How to divide views into splits when the format does not say.
struct SplitRule {
  enum class Kind { Auto, Files, EveryNth, Fraction, All } kind = Kind::Auto;
  int every_nth = 8;        ///< EveryNth: every n-th view (0, n, 2n, ...) is test (LLFF convention)
  double train_fraction = 0.9;  ///< Fraction: first fraction of evenly spread views is train (nerfstudio)
  /// Parses "auto" | "files" | "every:N" | "fraction:F" | "all"; bad text is a UsageError.
  static SplitRule parse(const std::string& text);
};

/// The split of each of `n_views` views (in load order) under an EveryNth, Fraction or All rule:
/// EveryNth puts views 0, n, 2n, ... in Test; Fraction puts ceil(n*f) views evenly spread over the
/// sequence (first and last included) in Train and the rest in Test; All puts everything in Train.
/// Auto and Files depend on the format and are resolved by load_scene (SEMFIELD_ASSERT here).
std::vector<Split> split_by_rule(const SplitRule& rule, size_t n_views);

struct LoadOptions {
  int downscale = 1;                          ///< integer image downscale factor (>= 1)
  std::optional<Eigen::Vector3d> background;  ///< composite RGBA onto this colour (else keep alpha)
  /// RGB images of an object on a uniform backdrop get an alpha channel keying the backdrop out (data/backdrop.h
  /// key_uniform_backdrop), then are treated as RGBA (composited over `background` when given). Images with a varied
  /// border or their own alpha are unchanged.
  bool key_backdrop = false;
  SplitRule split_rule;
  /// false: cameras and metadata only (fast `info`; training, which decodes views on demand with
  /// load_view_colour into its 8-bit image store)
  bool load_images = true;
  bool load_extras = true;                    ///< masks, depth, instance and semantic maps
  /// With load_images: decode pixels and extras only for the views of this split; the others load as with
  /// load_images false (headers only, decodable later with load_view_colour). `eval` decodes just the split it
  /// scores, so a large capture's training views never take memory there. The scene (frame, bounds) is the same.
  std::optional<Split> pixels_only_for;
  /// With load_images false: decode every image and extra map (in parallel) with the checks loading
  /// does, keep no pixels, and list each file that fails in Scene::unreadable instead of throwing.
  /// Without it only image headers are read (a truncated PNG passes).
  bool verify_files = false;
};

/// Loads any supported scene folder or file, detecting the format:
///  - a folder with transforms_{train,val,test}.json (NeRF-synthetic), or transforms.json
///    (instant-ngp or nerfstudio, told apart by "camera_model"/"applied_transform"/"ply_file_path"),
///  - a COLMAP sparse model (folder with cameras/images/points3D .txt or .bin, or sparse/0 below),
///  - an LLFF folder with poses_bounds.npy (+ images/).
/// Throws InputError naming the file and field for anything malformed, UsageError for bad options.
/// NeRF-synthetic / instant-ngp scenes without "aabb_scale" get one inferred from depth maps or image
/// alpha (Scene::bounds; never below 1); a warning is logged whenever the inferred box differs from the
/// default, or visible content lies outside the box the file gives. A labels.json that does not parse
/// is ignored with a warning (Scene::labels_error).
Scene load_scene(const std::filesystem::path& path, const LoadOptions& options = {});

/// Decodes the colour image of a view of a scene loaded without pixels exactly as load_scene would have
/// with `options` (to RGB or RGBA, composited over options.background, downscaled): what training's image
/// store and evaluation use to decode views on demand. InputError naming the file when it cannot be
/// decoded or its size disagrees with the view's camera.
Image load_view_colour(const View& view, const LoadOptions& options);

/// Whether `path` is a folder load_scene would try as a scene (by the files format detection looks for; nothing
/// is parsed): what corpora (data/corpus.h) count as their scenes.
bool is_scene_folder(const std::filesystem::path& path);

}  // namespace semfield
