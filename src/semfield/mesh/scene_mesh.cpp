// The extraction pipeline: sample, mesh, clean, colour.
#include "semfield/mesh/scene_mesh.h"

#include <chrono>
#include <cmath>

#include "semfield/core/error.h"
#include "semfield/mesh/hole_filling.h"
#include "semfield/mesh/isosurface.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/core/progress.h"

namespace semfield {

namespace {


}  // namespace

namespace {

// Probing two grid spacings around each vertex reaches the surface the isosurface interpolated, wherever
// within its cell the vertex landed.
VertexColorOptions vertex_color_options(float spacing) {
  VertexColorOptions options;
  options.probe_length = 2.0f * spacing;
  return options;
}

}  // namespace

SceneMesh extract_scene_mesh(const SceneModel& model, const SceneMeshOptions& options) {
  if (!(options.threshold > 0) || !std::isfinite(options.threshold))
    fail_usage("mesh threshold must be a positive density, got {}", options.threshold);
  SceneMesh out;
  auto start = std::chrono::steady_clock::now();
  const ScalarGrid grid = sample_density_grid(model, mesh_region(model.frame()), options.grid);
  out.spacing = grid.spacing.x();
  out.sample_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  out.mesh = extract_isosurface(grid, static_cast<float>(options.threshold));
  out.n_faces_before_cleanup = out.mesh.n_faces();
  out.surface_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  if (options.min_component_fraction > 0) out.mesh = remove_small_components(out.mesh, options.min_component_fraction);
  out.cleanup_seconds = seconds_since(start);

  if (options.colors) {
    start = std::chrono::steady_clock::now();
    color_vertices(model, out.mesh, vertex_color_options(out.spacing));
    out.color_seconds = seconds_since(start);
  }
  return out;
}

TriangleMesh cut_object(const TriangleMesh& scene, const std::vector<uint8_t>& selected, bool close) {
  TriangleMesh object = submesh(scene, selected);
  if (close) fill_holes(object);
  return object;
}

TriangleMesh finish_mesh_for_export(const SceneModel& model, TriangleMesh part, float spacing, bool colors) {
  if (colors) color_vertices(model, part, vertex_color_options(spacing));
  return to_original_frame(std::move(part), model.frame().normalization);
}

}  // namespace semfield
