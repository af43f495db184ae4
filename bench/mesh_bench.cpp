// Mesh extraction and object-mesh quality on a generated scene with ground truth (bench/mesh_quality.sh
// makes the scene and the run): extraction timings per grid resolution, surface accuracy against the
// ground-truth depth maps per density threshold, and, per object, the mask-projected mesh's purity (share
// of faces that belong to other objects), its cut (edges along other objects and holes through the object
// itself) and whether the exported object, rims capped, is watertight.
//
// Usage: mesh_bench SCENE RUN [--resolutions 128,256,384] [--thresholds 2.5,5,10,25,50,100]
//                    [--quality-resolution 256] [--quality-threshold 10] [--min-positive F]
//                    [--threads N] [--snapshots DIR]
// --snapshots writes, for the first test view, the mesh's depth (at 4x the view's size) beside the
// ground truth's and each object's mesh over the scene's (red) as PNGs.
#include <chrono>
#include <cstdio>
#include <optional>
#include <map>
#include <sstream>
#include <string>

#include <ATen/Parallel.h>

#include "semfield/models/radiance_model.h"
#include "semfield/core/runtime_settings.h"
#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/parallel.h"
#include "semfield/data/synth/synth_scene.h"
#include "semfield/io/image.h"
#include "semfield/mesh/mask_projection.h"
#include "semfield/mesh/mesh_raster.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/render/colormap.h"

using namespace semfield;

namespace {

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stod(item));
  return out;
}

// Ground-truth instance of every face: the majority instance id at the face's centroid over the views
// that see it (the same visibility test as mask voting), else the instance whose labels.json box holds
// the centroid (-1 when none does).
std::vector<int> ground_truth_faces(const TriangleMesh& mesh, const Scene& scene, float tolerance) {
  std::vector<std::map<int, int>> counts(mesh.faces.size());
  for (const View& view : scene.views) {
    if (!view.instance) continue;
    const Image zbuffer = rasterize_depth(mesh, view.camera);
    const Eigen::Vector3d eye = view.camera.origin();
    for (int64_t f = 0; f < mesh.n_faces(); ++f) {
      const Eigen::Vector3d c = face_centroid(mesh, f).cast<double>();
      if (face_normal(mesh, f).cast<double>().dot(eye - c) <= 0) continue;
      Eigen::Vector2d uv;
      double z = 0;
      if (!view.camera.world_to_pixel(c, &uv, &z)) continue;
      if (!(uv.x() >= 0 && uv.y() >= 0 && uv.x() < zbuffer.width && uv.y() < zbuffer.height)) continue;
      const int px = static_cast<int>(uv.x()), py = static_cast<int>(uv.y());
      if (zbuffer.at(px, py) > 0 && z > zbuffer.at(px, py) + tolerance) continue;
      ++counts[static_cast<size_t>(f)][static_cast<int>(view.instance->at(px, py))];
    }
  }
  std::vector<int> label(mesh.faces.size(), -1);
  for (size_t f = 0; f < label.size(); ++f) {
    int best = 0;
    for (const auto& [id, n] : counts[f])
      if (n > best) {
        best = n;
        label[f] = id;
      }
    if (label[f] >= 0) continue;
    const Eigen::Vector3d c = scene.normalization.invert(face_centroid(mesh, static_cast<int64_t>(f)).cast<double>());
    for (const auto& [id, l] : scene.instance_labels)
      if (id >= 2 && l.bbox && l.bbox->contains(c)) label[f] = id;
  }
  return label;
}

// The generator's own description of a `semfield synth` scene (rebuilt from scene.json's config: the
// generator is deterministic), for a geometric ground truth; nullopt for other scenes.
std::optional<SynthScene> synth_description(const Scene& scene) {
  const std::filesystem::path file = scene.root / "scene.json";
  if (scene.format != "semfield-synth" || !std::filesystem::is_regular_file(file)) return std::nullopt;
  const JsonNode config = JsonNode::parse_file(file).at("config");
  SynthConfig c;
  c.preset = config.at("preset").as_string();
  c.n_objects = static_cast<int>(config.at("objects").as_int());
  c.n_views = static_cast<int>(config.at("views").as_int());
  c.resolution = static_cast<int>(config.at("res").as_int());
  c.seed = static_cast<uint64_t>(config.at("seed").as_int());
  SynthScene synth = make_synth_scene(c);
  for (const SynthObject& object : synth.objects) {
    const auto it = scene.instance_labels.find(object.instance_id);
    if (it == scene.instance_labels.end() || it->second.name != object.name)
      fail_input(file, "config", "does not rebuild this scene (instance {} is not {})", object.instance_id, object.name);
  }
  return synth;
}

// Geometric ground truth of a face, from the generator's analytic surfaces.
struct NearestSurface {
  int nearest = -1;  ///< the instance whose surface is nearest the centroid, -1 when none is within reach
  int inside = -1;   ///< the object whose solid holds the centroid, -1 for none (free space or the ground's)
};

// `reach` in world units. Faces within reach of no surface are the field's own: haze, floaters, shells inside
// an object, or whatever it left where no camera looks (under the table top).
std::vector<NearestSurface> nearest_surface_faces(const TriangleMesh& mesh, const Scene& scene, const SynthScene& synth,
                                                  double reach) {
  std::vector<NearestSurface> out(mesh.faces.size());
  parallel_for(0, mesh.n_faces(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      const Eigen::Vector3d c = scene.normalization.invert(face_centroid(mesh, f).cast<double>());
      NearestSurface& o = out[static_cast<size_t>(f)];
      double best = reach;
      for (const SynthObject& object : synth.objects) {
        double d = 1e30;  // the object's signed distance: the union of its parts
        for (const synth::Primitive& part : object.parts) d = std::min(d, synth::signed_distance(part, c));
        if (std::fabs(d) <= best) {
          best = std::fabs(d);
          o.nearest = object.instance_id;
        }
        if (d < 0 && object.instance_id >= 2) o.inside = object.instance_id;
      }
    }
  });
  return out;
}

// Mean absolute z-depth error (normalised units) of the mesh against the ground-truth depth on the test
// views, with the share of ground-truth surface pixels the mesh covers and of empty pixels it wrongly fills.
void depth_accuracy(const TriangleMesh& mesh, const Scene& scene, double* error, double* coverage, double* spurious) {
  double sum = 0;
  int64_t both = 0, surface = 0, empty = 0, covered = 0, filled = 0;
  for (const View* view : scene.split(Split::Test)) {
    if (!view->depth) continue;
    const Image depth = rasterize_depth(mesh, view->camera);
    for (size_t p = 0; p < depth.pixels.size(); ++p) {
      const float truth = view->depth->pixels[p], got = depth.pixels[p];
      if (truth > 0) {
        ++surface;
        if (got > 0) {
          ++covered;
          ++both;
          sum += std::fabs(got - truth);
        }
      } else {
        ++empty;
        filled += got > 0;
      }
    }
  }
  *error = both ? sum / static_cast<double>(both) : 0;
  *coverage = surface ? static_cast<double>(covered) / static_cast<double>(surface) : 0;
  *spurious = empty ? static_cast<double>(filled) / static_cast<double>(empty) : 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);  // as the CLI (runtime_settings.h)
  if (argc < 3) {
    std::fprintf(stderr, "usage: mesh_bench SCENE RUN [--resolutions 128,256,384] [--thresholds 2.5,5,10,25,50,100] "
                         "[--quality-resolution 256] [--quality-threshold T] [--min-positive F] [--threads N] "
                         "[--snapshots DIR]\n");
    return 2;
  }
  std::vector<double> resolutions = {128, 256, 384}, thresholds = {2.5, 5, 10, 25, 50, 100};
  int quality_resolution = 256;
  double quality_threshold = SceneMeshOptions::kDefaultThreshold;
  double min_positive = 0;  // 0: MaskSelectionOptions' default
  std::string snapshots;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--resolutions") resolutions = parse_list(value);
    else if (key == "--thresholds") thresholds = parse_list(value);
    else if (key == "--quality-resolution") quality_resolution = std::stoi(value);
    else if (key == "--quality-threshold") quality_threshold = std::stod(value);
    else if (key == "--min-positive") min_positive = std::stod(value);
    else if (key == "--snapshots") snapshots = value;
    else if (key == "--threads") {
      at::set_num_threads(std::stoi(value));
      set_parallel_threads(std::stoi(value));
    } else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  try {
    const LoadedRun run = load_run(argv[2]);
    const Scene scene = load_run_scene(run, argv[1]);
    const RadianceModel& model = hashgrid_model(run, "mesh_bench");

    std::printf("== extraction time by resolution (threshold %.1f, %d threads)\n", SceneMeshOptions::kDefaultThreshold,
                parallel_threads());
    std::printf("%6s %9s %8s %8s %8s %8s %8s %s\n", "res", "faces", "grid_s", "surf_s", "clean_s", "color_s", "total_s",
                "boundary_edges");
    for (double res : resolutions) {
      SceneMeshOptions options;
      options.grid.resolution = static_cast<int>(res);
      const auto start = std::chrono::steady_clock::now();
      const SceneMesh m = extract_scene_mesh(model, options);
      const double total = seconds_since(start);
      std::printf("%6d %9lld %8.2f %8.2f %8.2f %8.2f %8.2f %lld\n", options.grid.resolution,
                  static_cast<long long>(m.mesh.n_faces()), m.sample_seconds, m.surface_seconds, m.cleanup_seconds,
                  m.color_seconds, total, static_cast<long long>(edge_stats(m.mesh).n_boundary));
    }

    std::printf("\n== surface accuracy by threshold (resolution %d, test views' ground-truth depth)\n", quality_resolution);
    std::printf("%9s %9s %14s %10s %10s %9s\n", "threshold", "faces", "depth_err_n", "coverage", "spurious", "closed");
    for (double t : thresholds) {
      SceneMeshOptions options;
      options.grid.resolution = quality_resolution;
      options.threshold = t;
      options.colors = false;
      const SceneMesh m = extract_scene_mesh(model, options);
      double error = 0, coverage = 0, spurious = 0;
      depth_accuracy(m.mesh, scene, &error, &coverage, &spurious);
      std::printf("%9.1f %9lld %14.5f %10.4f %10.4f %9s\n", t, static_cast<long long>(m.mesh.n_faces()), error, coverage,
                  spurious, edge_stats(m.mesh).watertight() ? "yes" : "no");
    }

    std::printf("\n== object meshes from ground-truth masks of the training views (resolution %d, threshold %.1f)\n",
                quality_resolution, quality_threshold);
    SceneMeshOptions options;
    options.grid.resolution = quality_resolution;
    options.threshold = quality_threshold;
    options.colors = false;
    const SceneMesh m = extract_scene_mesh(model, options);
    const float tolerance = 2.0f * m.spacing;
    const std::vector<int> truth = ground_truth_faces(m.mesh, scene, tolerance);
    const FaceAdjacency adjacency = face_adjacency(m.mesh);
    std::map<int, int64_t> by_label;
    for (int l : truth) ++by_label[l];
    std::printf("scene mesh %lld faces by ground-truth instance:", static_cast<long long>(m.mesh.n_faces()));
    for (const auto& [l, n] : by_label)
      std::printf(" %s %lld", l < 0 ? "unseen" : std::to_string(l).c_str(), static_cast<long long>(n));
    std::printf("\n");
    // The same by the nearest analytic surface, for generated scenes: an independent ground truth (no views,
    // no visibility test), which also names the faces that lie on no object (off: farther than two grid
    // spacings from every surface).
    const std::optional<SynthScene> synth = synth_description(scene);
    std::vector<NearestSurface> nearest;
    if (synth) {
      nearest = nearest_surface_faces(m.mesh, scene, *synth, 2.0 * m.spacing / scene.normalization.scale);
      std::map<int, int64_t> by_nearest;
      for (const NearestSurface& n : nearest) ++by_nearest[n.nearest];
      std::printf("scene mesh faces by nearest ground-truth surface (within two grid spacings):");
      for (const auto& [l, n] : by_nearest)
        std::printf(" %s %lld", l < 0 ? "none" : std::to_string(l).c_str(), static_cast<long long>(n));
      std::printf("\n");
    }
    std::printf("%-14s %8s %10s %8s %10s %10s %6s %12s %10s %11s %11s %9s %9s %11s\n", "object", "faces", "other_pct",
                "recall", "cut_edges", "hole_edges", "loops", "select_s", "cap_faces", "watertight", "near_other",
                "near_none", "interior", "near_recall");
    const View* snapshot_view = scene.split(Split::Test).empty() ? nullptr : scene.split(Split::Test).front();
    Image scene_depth;
    Camera snapshot_camera;
    if (!snapshots.empty() && snapshot_view) {
      snapshot_camera = snapshot_view->camera;
      snapshot_camera.intrinsics = snapshot_camera.intrinsics.resized(4 * snapshot_camera.intrinsics.width,
                                                                      4 * snapshot_camera.intrinsics.height);
      scene_depth = rasterize_depth(m.mesh, snapshot_camera);
      float lo = 1e30f, hi = 0;
      for (float d : snapshot_view->depth->pixels)
        if (d > 0) lo = std::min(lo, d), hi = std::max(hi, d);
      write_png(std::filesystem::path(snapshots) / "depth_mesh.png", apply_turbo(scene_depth, lo, hi));
      write_png(std::filesystem::path(snapshots) / "depth_truth.png", apply_turbo(*snapshot_view->depth, lo, hi));
    }
    double sum_other = 0, sum_recall = 0, worst_other = 0, sum_near_other = 0, worst_near_other = 0, sum_none = 0,
           worst_none = 0;
    int n_objects = 0;
    for (const auto& [id, label] : scene.instance_labels) {
      if (id < 2) continue;
      std::vector<MaskView> views;
      for (const View* v : scene.split(Split::Train)) {
        if (!v->instance) continue;
        Image mask(v->instance->width, v->instance->height, 1);
        for (size_t p = 0; p < mask.pixels.size(); ++p) mask.pixels[p] = v->instance->pixels[p] == id ? 1.0f : 0.0f;
        views.push_back({v->name, v->camera, mask});
      }
      MaskSelectionOptions select;
      select.depth_tolerance = tolerance;
      if (min_positive > 0) select.min_positive_fraction = min_positive;
      const auto start = std::chrono::steady_clock::now();
      const std::vector<uint8_t> selected = select_faces_from_masks(m.mesh, views, select);
      const double select_seconds = seconds_since(start);
      int64_t n_selected = 0, n_other = 0, n_truth = 0, n_truth_selected = 0;
      // By nearest surface: another object's surface or solid (other), no surface and no solid (none: haze,
      // floaters, what is under the table), the object's own solid (interior shells; part of the object).
      int64_t n_near_other = 0, n_near_none = 0, n_interior = 0, n_near = 0, n_near_selected = 0;
      for (size_t f = 0; f < nearest.size(); ++f) {
        const NearestSurface& n = nearest[f];
        n_near += n.nearest == id;
        if (!selected[f]) continue;
        n_near_selected += n.nearest == id;
        if (n.nearest >= 0) n_near_other += n.nearest != id;
        else if (n.inside < 0) ++n_near_none;
        else if (n.inside == id) ++n_interior;
        else ++n_near_other;
      }
      std::map<int, int64_t> other_by_instance;
      for (size_t f = 0; f < selected.size(); ++f) {
        n_selected += selected[f];
        if (selected[f] && truth[f] >= 0 && truth[f] != id) ++n_other, ++other_by_instance[truth[f]];
        if (truth[f] == id) {
          ++n_truth;
          n_truth_selected += selected[f];
        }
      }
      // Cut edges: shared by a selected and an unselected face. A cut edge whose unselected face is the
      // object's own (by ground truth) is a hole in the exported object rather than its contact with others.
      int64_t cut = 0, hole = 0;
      for (size_t f = 0; f < selected.size(); ++f) {
        if (!selected[f]) continue;
        for (int64_t i = adjacency.offsets[f]; i < adjacency.offsets[f + 1]; ++i) {
          const auto g = static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)]);
          if (selected[g]) continue;
          ++cut;
          hole += truth[g] == id;
        }
      }
      const double other = n_selected ? 100.0 * static_cast<double>(n_other) / static_cast<double>(n_selected) : 0;
      const double recall = n_truth ? static_cast<double>(n_truth_selected) / static_cast<double>(n_truth) : 0;
      const int64_t loops = edge_stats(submesh(m.mesh, selected)).n_boundary_loops;
      // What is exported: the cut with its rims capped.
      const TriangleMesh exported = cut_object(m.mesh, selected);
      const EdgeStats exported_edges = edge_stats(exported);
      auto percent = [&](int64_t n) { return n_selected ? 100.0 * static_cast<double>(n) / static_cast<double>(n_selected) : 0.0; };
      std::printf("%-14s %8lld %10.2f %8.3f %10lld %10lld %6lld %12.2f %10lld %11s", label.name.c_str(),
                  static_cast<long long>(n_selected), other, recall, static_cast<long long>(cut),
                  static_cast<long long>(hole), static_cast<long long>(loops), select_seconds,
                  static_cast<long long>(exported.n_faces() - n_selected), exported_edges.watertight() ? "yes" : "no");
      if (synth)
        std::printf(" %11.2f %9.2f %9.2f %11.3f", percent(n_near_other), percent(n_near_none), percent(n_interior),
                    n_near ? static_cast<double>(n_near_selected) / static_cast<double>(n_near) : 0.0);
      std::printf("\n");
      if (!other_by_instance.empty()) {
        std::printf("%-14s   other faces by ground-truth instance:", "");
        for (const auto& [other_id, n] : other_by_instance) std::printf(" %d: %lld", other_id, static_cast<long long>(n));
        std::printf("\n");
      }
      if (!scene_depth.empty()) {
        // Red where the object's faces are the nearest surface, grey elsewhere.
        const Image object_depth = rasterize_depth(submesh(m.mesh, selected), snapshot_camera);
        Image picture(scene_depth.width, scene_depth.height, 3, 1.0f);
        for (int y = 0; y < picture.height; ++y)
          for (int x = 0; x < picture.width; ++x) {
            const float d = scene_depth.at(x, y);
            if (d == 0) continue;
            const bool mine = object_depth.at(x, y) > 0 && object_depth.at(x, y) <= d + 1e-6f;
            for (int c = 0; c < 3; ++c) picture.at(x, y, c) = mine ? (c == 0 ? 0.9f : 0.1f) : 0.5f;
          }
        write_png(std::filesystem::path(snapshots) / ("object_" + label.name + ".png"), picture);
      }
      sum_other += other;
      sum_near_other += percent(n_near_other);
      worst_near_other = std::max(worst_near_other, percent(n_near_other));
      sum_none += percent(n_near_none);
      worst_none = std::max(worst_none, percent(n_near_none));
      sum_recall += recall;
      worst_other = std::max(worst_other, other);
      ++n_objects;
    }
    if (n_objects)
      std::printf("mean other-object faces %.2f %% (worst %.2f %%), mean recall %.3f over %d objects\n",
                  sum_other / n_objects, worst_other, sum_recall / n_objects, n_objects);
    if (n_objects && synth)
      std::printf("by nearest surface: mean other-object faces %.2f %% (worst %.2f %%), on no surface %.2f %% (worst %.2f %%)\n",
                  sum_near_other / n_objects, worst_near_other, sum_none / n_objects, worst_none);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
