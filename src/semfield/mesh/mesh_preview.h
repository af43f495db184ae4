// A quick approximate view of a trained radiance model for interactive viewing: the scene mesh is rasterised
// to find each pixel's surface point, and the radiance field is evaluated at a few points around it, instead
// of volume rendering every ray from the camera on (~16 field samples per ray on lego, 4 M for a 512² view).
#pragma once

#include <Eigen/Core>

#include "semfield/geometry/camera.h"
#include "semfield/mesh/triangle_mesh.h"
#include "semfield/models/scene_model.h"
#include "semfield/pipeline/view_renderer.h"

namespace semfield {

struct MeshPreviewOptions {
  int resolution = 192;      ///< density grid samples along the longest side (the mesh's detail), [8, 2048]
  /// A second, lighter mesh for frames that trade detail for speed (render's `coarse`): the z-buffer costs
  /// about a pass over every face and vertex whatever the frame's size, so small frames of a detailed mesh
  /// are dominated by it. 0 = none (coarse frames use the main mesh).
  int coarse_resolution = 96;
  double threshold = 10.0;   ///< surface density level (SceneMeshOptions::kDefaultThreshold)
  /// Field samples per pixel, spread evenly over [-behind, +beyond] grid spacings around the mesh's surface
  /// point and composited (normalised by their total weight), so the colour is the one the volume render
  /// gives where the density rises within that span; 1 evaluates the surface point only. >= 1.
  int samples = 4;
  double behind = 1.0, beyond = 2.0;
};

/// The scene's mesh (extracted once, in the model's normalised frame, no vertex colours) and surface
/// rendering against it. Pixels whose ray misses the mesh show the background: whatever the mesh does not
/// capture (thin or faint structure below the threshold, an unbounded scene's far background) is missing,
/// so a preview stands in for an exact render only while one is on its way.
class MeshPreview {
 public:
  /// Extracts the meshes (about a second for grids 192 and 96 on lego). Keeps a reference to `model`.
  MeshPreview(const SceneModel& model, const MeshPreviewOptions& options = {});

  /// rgb over `background`, z-depth of the mesh (0 where missed) and opacity 1 / 0 (hit / missed), at the
  /// camera's resolution. `samples`: field samples per pixel for this frame (0 = the options'; < 0 is a
  /// UsageError); `coarse`: against the lighter mesh, when there is one. Thread-safe (const); parallelises
  /// itself (parallel_slices).
  RenderedView render(const Camera& camera, const Eigen::Vector3f& background, int samples = 0,
                      bool coarse = false) const;

  const TriangleMesh& mesh() const { return m_mesh; }
  /// The lighter mesh (empty when MeshPreviewOptions::coarse_resolution is 0).
  const TriangleMesh& coarse_mesh() const { return m_coarse_mesh; }
  float spacing() const { return m_spacing; }  ///< the mesh's grid spacing, normalised units
  double extract_seconds() const { return m_extract_seconds; }

 private:
  const SceneModel& m_model;
  MeshPreviewOptions m_options;
  TriangleMesh m_mesh, m_coarse_mesh;
  float m_spacing = 0, m_coarse_spacing = 0;
  double m_extract_seconds = 0;
};

}  // namespace semfield
