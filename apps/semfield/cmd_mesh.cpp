// `semfield mesh`: extract a trained run's surface as a coloured mesh; with a 3D selection or 2D masks,
// export the selected object (and optionally the rest of the scene) separately.
#include <cmath>
#include <cstdio>
#include <optional>

#include <ATen/ATen.h>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/mesh/mask_projection.h"
#include "semfield/mesh/mesh_io.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/mesh/selection_faces.h"
#include "semfield/mesh/vertex_labels.h"
#include "semfield/core/file_util.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/selection.h"

namespace semfield::cli {

namespace {

struct MeshArgs {
  std::string run, out, rest, selection, masks;
  int resolution = 256;
  double threshold = SceneMeshOptions::kDefaultThreshold;
  double min_component = 0.01;
  double min_positive = MaskSelectionOptions{}.min_positive_fraction;
  bool no_colors = false;
  bool open = false;
  std::string labels;  ///< --labels SOURCE: "semantics" (the run's model) or a distilled label field's name
};

// Sidecars of a labelled mesh: <stem>_labels.npy (int32 class id per vertex, in the mesh's vertex order) and
// <stem>_labels.json (class names when known, per-class vertex counts).
void write_vertex_labels(const std::filesystem::path& mesh_path, const at::Tensor& ids, const SemanticSource& source) {
  const std::filesystem::path stem = mesh_path.parent_path() / mesh_path.stem();
  write_npy(stem.string() + "_labels.npy", tensor_to_array(ids.to(at::kInt)));
  write_file_atomic(stem.string() + "_labels.json", class_counts_json(source, ids, "vertices").dump(2) + "\n");
}

std::string describe(const TriangleMesh& mesh) {
  const EdgeStats edges = edge_stats(mesh);
  return fmt::format("{} faces, {} vertices, {}", mesh.n_faces(), mesh.n_vertices(),
                     edges.watertight() ? std::string("watertight")
                                        : fmt::format("{} boundary edges in {} loops, {} non-manifold edges",
                                                      edges.n_boundary, edges.n_boundary_loops, edges.n_nonmanifold));
}

void run_mesh(const MeshArgs& args) {
  // Cheap checks first: bad names and missing files fail before a minute of extraction.
  mesh_format_from_path(args.out);
  if (!args.rest.empty()) {
    mesh_format_from_path(args.rest);
    if (args.selection.empty() && args.masks.empty())
      fail_usage("mesh: --rest needs --selection or --masks (without them the whole scene goes to --out)");
  }
  if (!args.selection.empty() && !args.masks.empty()) fail_usage("mesh: give --selection or --masks, not both");
  if (!(args.threshold > 0) || !std::isfinite(args.threshold))
    fail_usage("mesh: --threshold must be a positive density, got {}", args.threshold);
  std::optional<Selection> selection;
  if (!args.selection.empty()) {
    selection.emplace(load_selection(args.selection));
    if (selection->empty()) fail_usage("mesh: the selection {} selects no voxel", args.selection);
  }
  const LoadedRun loaded = load_run(args.run);
  std::vector<MaskView> masks;
  if (!args.masks.empty()) {
    std::vector<std::pair<std::string, Camera>> cameras;
    for (const CameraRecord& record : loaded.cameras) cameras.emplace_back(record.name, record.camera);
    masks = load_mask_views(args.masks, cameras);
  }

  SceneMeshOptions options;
  options.grid.resolution = args.resolution;
  options.threshold = args.threshold;
  options.min_component_fraction = args.min_component;
  options.colors = false;  // only the parts written get colours, below
  const SceneMesh scene = extract_scene_mesh(*loaded.model, options);
  log::info("mesh: density grid {:.2f} s, surface {:.2f} s, cleanup {:.2f} s", scene.sample_seconds,
            scene.surface_seconds, scene.cleanup_seconds);
  if (scene.mesh.faces.empty())
    fail_usage("mesh: the run's density never exceeds the threshold {} (try a lower --threshold)", args.threshold);
  std::optional<LoadedDistill> label_field;
  const SemanticSource* labeller =
      args.labels.empty() ? nullptr : &class_label_source(loaded, args.run, args.labels, label_field, "mesh --labels");
  // Colours from the field (or class colours with --labels) in the normalised frame, then the dataset's own
  // coordinates; with --labels the vertex ids beside the mesh file.
  auto finish = [&](TriangleMesh part, const std::string& path) {
    if (labeller == nullptr) return finish_mesh_for_export(*loaded.model, std::move(part), scene.spacing, !args.no_colors);
    const at::Tensor ids = label_vertices(*labeller, part);
    color_vertices_by_label(part, ids);
    write_vertex_labels(path, ids, *labeller);
    return finish_mesh_for_export(*loaded.model, std::move(part), scene.spacing, false);
  };

  if (!selection && masks.empty()) {
    const TriangleMesh mesh = finish(scene.mesh, args.out);
    write_mesh(args.out, mesh);
    std::printf("scene mesh: %s -> %s\n", describe(mesh).c_str(), args.out.c_str());
    return;
  }

  std::vector<uint8_t> selected;
  if (selection) {
    selected = faces_in_selection(scene.mesh, *selection);
  } else {
    MaskSelectionOptions select;
    // Two grid spacings: the z-buffer and the face centroids sample the same surface, off by at most a
    // cell's interpolation.
    select.depth_tolerance = 2.0f * scene.spacing;
    select.min_positive_fraction = args.min_positive;
    selected = select_faces_from_masks(scene.mesh, masks, select);
  }
  int64_t n_selected = 0;
  for (uint8_t s : selected) n_selected += s;
  if (n_selected == 0)
    fail_usage("mesh: the {} covers no face of the mesh", selection ? "selection" : fmt::format("masks in {}", args.masks));
  if (!args.rest.empty() && n_selected == static_cast<int64_t>(selected.size()))
    fail_usage("mesh: --rest: the selection covers the whole mesh");
  const TriangleMesh object = finish(cut_object(scene.mesh, selected, !args.open), args.out);
  write_mesh(args.out, object);
  const std::string source = selection ? "3D selection" : fmt::format("masks of {} views", masks.size());
  std::printf("object mesh (%s): %s -> %s\n", source.c_str(), describe(object).c_str(), args.out.c_str());
  if (!args.rest.empty()) {
    std::vector<uint8_t> rest_faces(selected.size());
    for (size_t f = 0; f < selected.size(); ++f) rest_faces[f] = !selected[f];
    const TriangleMesh rest = finish(submesh(scene.mesh, rest_faces), args.rest);
    write_mesh(args.rest, rest);
    std::printf("rest of the scene: %s -> %s\n", describe(rest).c_str(), args.rest.c_str());
  }
}

}  // namespace

void add_mesh_command(CLI::App& app) {
  auto args = std::make_shared<MeshArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mesh", "Extract a run's surface as a coloured mesh (.ply/.obj/.glb); with --selection or --masks, the object");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--out", args->out, "Mesh file: .ply, .obj or .glb (the object, or the whole scene)")->required();
  cmd->add_option("--selection", args->selection, "3D selection file written by `semfield segment`");
  cmd->add_option("--masks", args->masks, "Folder of 2D masks <view>.png (0/255) of the run's views");
  cmd->add_option("--rest", args->rest, "Also write the rest of the scene (without the object) to this file");
  cmd->add_option("--resolution", args->resolution, "Density grid samples along the longest side")
      ->check(CLI::Range(8, 2048))
      ->capture_default_str();
  cmd->add_option("--threshold", args->threshold, "Surface density level (per normalised unit length)")
      ->capture_default_str();
  cmd->add_option("--min-component", args->min_component,
                  "Drop mesh pieces with fewer faces than this fraction of the largest (0 keeps all)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--min-positive", args->min_positive,
                  "With --masks: a face is the object's when at least this fraction of the views that see it say so")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--no-colors", args->no_colors, "Skip vertex colours");
  cmd->add_option("--labels", args->labels,
                  "Label the vertices: 'semantics' (a gnesf run's own) or a distilled label field's name -> class "
                  "colours, <stem>_labels.npy (int32 id per vertex) and <stem>_labels.json");
  cmd->add_flag("--open", args->open,
                "Leave the object open where it was cut (by default every rim is capped, so it is watertight)");
  cmd->callback([args] { run_mesh(*args); });
}

}  // namespace semfield::cli
