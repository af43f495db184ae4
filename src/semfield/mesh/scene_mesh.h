// Scene mesh extraction from a trained radiance model: dense density grid -> isosurface -> small-component
// cleanup -> vertex colours, in the model's normalised frame.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/mesh/density_grid.h"
#include "semfield/mesh/triangle_mesh.h"
#include "semfield/mesh/vertex_colors.h"
#include "semfield/models/scene_model.h"

namespace semfield {

struct SceneMeshOptions {
  /// The default surface level (docs/meshes.md says how it was chosen).
  static constexpr double kDefaultThreshold = 10.0;

  DensityGridOptions grid;
  double threshold = kDefaultThreshold;  ///< density level of the surface, per unit normalised length (> 0)
  /// Connected components with fewer faces than this fraction of the largest are dropped as floaters
  /// (remove_small_components); 0 keeps everything.
  double min_component_fraction = 0.01;
  bool colors = true;  ///< compute vertex colours (color_vertices, probe length = 2 grid spacings)
};

struct SceneMesh {
  TriangleMesh mesh;       ///< normalised scene frame
  float spacing = 0;       ///< grid spacing, normalised units (the mesh's resolution)
  double sample_seconds = 0, surface_seconds = 0, cleanup_seconds = 0, color_seconds = 0;
  int64_t n_faces_before_cleanup = 0;
};

/// Extracts the scene's surface over mesh_region(model.frame()). Threshold <= 0 or not finite -> UsageError.
/// An empty result (nothing above the threshold) is returned as an empty mesh; callers decide.
SceneMesh extract_scene_mesh(const SceneModel& model, const SceneMeshOptions& options);

/// The faces of a scene mesh with selected[f] != 0 as an object: submesh, then, with `close`, every rim
/// capped (fill_holes) so the object is a closed solid where it was cut from the ground or holed by the vote.
TriangleMesh cut_object(const TriangleMesh& scene, const std::vector<uint8_t>& selected, bool close = true);

/// A mesh cut from a scene mesh (e.g. submesh(scene.mesh, faces)) made ready to write: vertex colours from
/// the field unless `colors` is false (color_vertices, probe length 2 grid `spacing`s, as extract_scene_mesh),
/// then moved from the normalised frame into the dataset's own coordinates (to_original_frame).
TriangleMesh finish_mesh_for_export(const SceneModel& model, TriangleMesh part, float spacing, bool colors = true);

}  // namespace semfield
