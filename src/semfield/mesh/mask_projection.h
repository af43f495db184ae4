// Projects 2D object masks from several views onto a mesh (SAN section 4.4): each face votes per view in
// which it is visible, and the vote picks the faces of the object.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "semfield/geometry/camera.h"
#include "semfield/io/image.h"
#include "semfield/mesh/face_selection.h"
#include "semfield/mesh/triangle_mesh.h"

namespace semfield {

/// One view's mask. The camera is in the mesh's frame. The mask is H x W x C (channel 0 is used,
/// foreground where >= 0.5); when its size differs from the camera's, the camera is resampled to the mask
/// (Intrinsics::resized), so masks made at a feature map's resolution work too.
struct MaskView {
  std::string name;
  Camera camera;
  Image mask;
};

/// Reads DIR/<name>.png for every named camera that has one (the files `semfield segment` writes; PNGs named
/// after no camera are skipped with a warning). InputError naming the folder when it is missing or holds no
/// mask for any camera, naming the file when one is unreadable or its aspect ratio differs from its
/// view's by more than 1 %.
std::vector<MaskView> load_mask_views(const std::filesystem::path& dir,
                                      const std::vector<std::pair<std::string, Camera>>& cameras);

/// Per-face evidence summed over the views. A view that sees a face adds the weight w = cos(angle between
/// the face normal and the direction to the camera) to `weight` and w * m to `positive`, m being the mask
/// bilinearly interpolated at the centroid's projection: views that see a face head-on count most, grazing
/// views (where the mask's edge and the z-buffer are least reliable) least, and a centroid on the mask's
/// edge counts half.
struct FaceVotes {
  std::vector<int32_t> views;   ///< views in which the face is visible
  std::vector<float> weight;    ///< sum of w over those views
  std::vector<float> positive;  ///< sum of w * m over those views
};

/// Views that see a face at more than ~72 degrees from its normal do not vote: there the face's strip of
/// surface is squeezed into the mask's last pixel before its edge, and its vote is noise (measured on a
/// sphere standing on a plane: such votes put a third of the sphere's lower rim outside its own mask).
/// Faces only such views see are left to propagate_face_labels.
constexpr double kMinViewCosine = 0.3;

/// A face is visible in a view when its centroid projects inside the image, the face turns its front to
/// the camera at an angle within kMinViewCosine, and the centroid's z-depth is at most the mesh's own z-buffer depth at that pixel
/// (rasterize_depth at the mask's size) plus `depth_tolerance` (mesh units; a couple of extraction-grid
/// spacings) plus two pixels' footprint 2 z / fx (the z-buffer samples pixel centres; the centroid lies
/// anywhere in its pixel, on surfaces that may be seen at a grazing angle). Views run in parallel.
FaceVotes vote_faces(const TriangleMesh& mesh, const std::vector<MaskView>& views, float depth_tolerance);

struct MaskSelectionOptions {
  float depth_tolerance = 0.01f;      ///< see vote_faces
  double min_positive_fraction = 0.5; ///< selected when positive >= this fraction of weight (> 0)
  /// A region of faces no view saw that borders rejected faces as much as selected ones takes labels only this
  /// many rings of faces deep (a ring is about a grid spacing; propagate_face_labels): enough to close the
  /// strips between votes (grazing faces, the crevice where an object meets the table) but not to flood
  /// what no camera sees as a whole. Flooded, such a region went to whichever label reached it first:
  /// below the table top the field leaves density that the mesh joins to the object standing there
  /// (measured: 46 % of a box's exported faces lay under the table; docs/meshes.md). A region bordered
  /// mostly by the object (its hidden underside) is the object's whatever its size. 0 = no limit.
  int max_propagation_rings = 4;
  SelectionCleanupOptions cleanup;
};

/// The object's faces (1 = selected): the vote decides every face seen at least once, faces no view saw
/// take the label of the nearest decided face within max_propagation_rings (propagate_face_labels), then
/// clean_selection.
std::vector<uint8_t> select_faces_from_masks(const TriangleMesh& mesh, const std::vector<MaskView>& views,
                                             const MaskSelectionOptions& options);

}  // namespace semfield
