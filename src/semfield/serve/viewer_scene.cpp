// The viewer's model side: loading a run and its fields, rendering modes, per-session segmentation, text
// relevancy and object meshes, all through the library.
#include "semfield/serve/viewer_scene.h"

#include <atomic>

#include <ATen/ATen.h>
#include <Eigen/Dense>
#include <unistd.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/mesh/selection_faces.h"
#include "semfield/pipeline/view_output_cache.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/colormap.h"
#include "semfield/segment/field_choice.h"
#include "semfield/segment/mask_io.h"
#include "semfield/segment/click_lifting.h"
#include "semfield/segment/selection_voting.h"

namespace semfield {

namespace {

// The point nearest (least squares) to every dataset camera's viewing axis: what the cameras look at, the
// page's default orbit centre. Falls back to one unit in front of the mean camera when the axes are parallel.
Eigen::Vector3d look_at_centre(const std::vector<CameraRecord>& cameras) {
  Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero(), mean_origin = Eigen::Vector3d::Zero(),
                  mean_forward = Eigen::Vector3d::Zero();
  for (const CameraRecord& record : cameras) {
    const Eigen::Vector3d d = record.camera.forward(), o = record.camera.origin();
    const Eigen::Matrix3d p = Eigen::Matrix3d::Identity() - d * d.transpose();
    a += p;
    b += p * o;
    mean_origin += o;
    mean_forward += d;
  }
  const double n = std::max<double>(1, static_cast<double>(cameras.size()));
  const Eigen::FullPivLU<Eigen::Matrix3d> lu(a);
  if (lu.rank() == 3) return lu.solve(b);
  return mean_origin / n + mean_forward.normalized();
}

Eigen::Vector3d mean_up(const std::vector<CameraRecord>& cameras) {
  Eigen::Vector3d up = Eigen::Vector3d::Zero();
  for (const CameraRecord& record : cameras) up += record.camera.c2w.block<3, 1>(0, 1);
  return up.norm() > 1e-9 ? up.normalized() : Eigen::Vector3d(0, 0, 1);
}

nlohmann::json availability(const std::string& reason) {
  return {{"available", reason.empty()}, {"reason", reason}};
}

}  // namespace

at::Tensor selection_at_surface(const Selection& selection, const Camera& camera, const at::Tensor& depth,
                                const at::Tensor& opacity) {
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  SEMFIELD_ASSERT(depth.dim() == 2 && depth.size(0) == h && depth.size(1) == w, "depth must match the camera");
  const kernels::Rays rays = kernels::generate_image_rays(camera);
  const at::Tensor z = depth.reshape({-1}).to(at::kFloat);
  const at::Tensor t = kernels::ray_distance_from_z(camera, rays.directions, z);
  const at::Tensor points = rays.origins + rays.directions * t.unsqueeze(1);
  const at::Tensor surface = (opacity.reshape({-1}) >= 0.5f) & (z > 0);
  return (selection.contains(points).to(at::kBool) & surface).reshape({h, w});
}

std::string camera_key(const Camera& camera) {
  std::string key;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) key += fmt::format("{:.17g},", camera.c2w(r, c));
  const Intrinsics& k = camera.intrinsics;
  return key + fmt::format("{:.17g},{:.17g},{:.17g},{:.17g},{}x{}", k.fx, k.fy, k.cx, k.cy, k.width, k.height);
}

ViewerScene::ViewerScene(const ViewerOptions& options) : m_options(options), m_run(load_run(options.run)) {
  m_background = parse_background(m_run.background);
  const std::vector<std::string> names = list_distilled(options.run);
  m_fields.reserve(names.size());
  for (const std::string& name : names) m_fields.push_back(load_distilled(options.run, name, *m_run.model));

  // The run model's own semantics (gp-nerf, gnesf applied with 2D maps, featurenerf), beside any distilled field:
  // through a cache of its last views, so a labels / PCA frame and the clicks on that view render it once (a
  // generalizable model's view takes seconds).
  const SemanticSource* own = run_semantic_source(m_run);
  if (own != nullptr) {
    m_own_cache = std::make_unique<ViewOutputCache>(*own, ViewCachePolicy::recent_views(int64_t{512} << 20));
    own = m_own_cache.get();
  }
  const std::string own_name = model_semantics_description(m_run.model->type());
  std::string segment_method;
  try {
    m_segment_name = choose_semantics(options.run, m_run, options.field, FieldUse::Segment);
    if (m_segment_name == kModelSemantics) {
      m_segment_source = own;
      m_segment_origin = own_name;
      m_options.method = segment_method_for(m_run, m_segment_name, options.method);  // every session's clicks
      segment_method = make_segmenter(*own, own_name, m_options.method)->method();
    } else {
      m_segment_field = field_named(m_segment_name);
      if (m_segment_field == nullptr) fail_usage("serve: the run has no distilled field named {}", m_segment_name);
      m_segment_source = m_segment_field->model.get();
      // Fail now for a method the field cannot run (or SAM weights that are gone), not at the first click.
      segment_method = make_segmenter(*m_segment_field, options.method)->method();
    }
  } catch (const Error& e) {
    if (!options.field.empty() || options.method != "auto") throw;
    m_segment_name.clear();
    m_segment_field = nullptr;
    m_segment_source = nullptr;
    m_segment_error = e.what();
  }
  for (const LoadedDistill& field : m_fields) {
    const SemanticSource& source = *field.model;
    if (source.has_classes() && m_label_source == nullptr) m_label_source = &source;
    if (!source.has_classes() && m_pca_source == nullptr) m_pca_source = &source;
  }
  if (own != nullptr && own->has_classes() && m_label_source == nullptr) m_label_source = own;
  if (own != nullptr && !own->has_classes() && m_pca_source == nullptr) m_pca_source = own;
  if (m_pca_source == nullptr) m_pca_source = m_label_source;  // a PCA of class logits still separates classes
  try {
    m_query_field = field_named(choose_field(options.run, "", FieldUse::Query));
    if (m_query_field != nullptr) m_query.emplace(TextQuery::for_field(*m_query_field));
  } catch (const Error& e) {
    m_query_field = nullptr;
    m_query_error = e.what();
  }

  nlohmann::json cameras = nlohmann::json::array();
  for (const CameraRecord& record : m_run.cameras)
    cameras.push_back({{"name", record.name}, {"split", split_name(record.split)},
                       {"camera", view_camera_json(record.camera)}});
  const Eigen::Vector3d centre = look_at_centre(m_run.cameras), up = mean_up(m_run.cameras);
  const std::string no_fields =
      "the run has no distilled field (run `semfield distill` first) and its model no semantics of its own";
  nlohmann::json modes = {
      {"rgb", availability("")},
      {"depth", availability("")},
      {"pca", availability(m_pca_source ? "" : no_fields)},
      {"labels", availability(m_label_source ? "" : "the run has no label field (distill one with "
                                                   "`semfield distill --teacher labels:semantic`) and its model no "
                                                   "classes of its own")},
      {"relevancy", availability(m_query_error)}};
  m_info = {{"run", options.run.filename().string()},
            {"cameras", cameras},
            {"centre", {centre.x(), centre.y(), centre.z()}},
            {"up", {up.x(), up.y(), up.z()}},
            {"modes", modes},
            {"fields", names},
            {"segment", availability(m_segment_error)},
            {"segment_field", m_segment_name},
            {"text_query", availability(m_query_error)},
            {"query_field", m_query_field ? m_query_field->name : ""}};
  m_info["segment_method"] = segment_method;

  // Quick frames while the camera moves or until the exact render of a still one arrives.
  std::string no_preview = "turned off (--preview-resolution 0)";
  nlohmann::json preview_stats = {{"faces", 0}, {"coarse_faces", 0}, {"seconds", 0.0}};
  if (options.preview_resolution > 0) {
    MeshPreviewOptions preview;
    preview.resolution = options.preview_resolution;
    preview.coarse_resolution = std::max(8, options.preview_resolution / 2);
    m_preview = std::make_unique<MeshPreview>(*m_run.model, preview);
    preview_stats = {{"faces", m_preview->mesh().n_faces()},
                     {"coarse_faces", m_preview->coarse_mesh().n_faces()},
                     {"seconds", m_preview->extract_seconds()}};
    no_preview = "";
    if (m_preview->mesh().n_faces() == 0) {
      m_preview.reset();
      no_preview = "the run's density has no surface to mesh";
    } else {
      log::info("preview meshes: {} faces (grid {}), {} for moving frames, in {:.1f} s", m_preview->mesh().n_faces(),
                options.preview_resolution, m_preview->coarse_mesh().n_faces(), m_preview->extract_seconds());
    }
  }
  m_info["preview"] = availability(no_preview);
  m_info["preview"].update(preview_stats);
}

ViewerScene::~ViewerScene() = default;

const LoadedDistill* ViewerScene::field_named(const std::string& name) const {
  for (const LoadedDistill& field : m_fields)
    if (field.name == name) return &field;
  return nullptr;
}

bool ViewerScene::previewable(RenderMode mode) const {
  return m_preview != nullptr && (mode == RenderMode::Rgb || mode == RenderMode::Depth);
}

RenderedFrame ViewerScene::render(RenderMode mode, const Camera& camera, const std::string& text, bool preview,
                                  bool coarse) {
  RenderedFrame frame;
  auto render_rgb = [&] {
    return preview && previewable(mode) ? m_preview->render(camera, m_background, coarse ? 2 : 0, coarse)
                                        : exact_view(camera);
  };
  auto from_view = [&](const RenderedView& view) {
    frame.depth = image_to_tensor(view.depth);
    frame.opacity = image_to_tensor(view.opacity);
  };
  switch (mode) {
    case RenderMode::Rgb: {
      const RenderedView view = render_rgb();
      from_view(view);
      frame.image = view.rgb;
      return frame;
    }
    case RenderMode::Depth: {
      const RenderedView view = render_rgb();
      from_view(view);
      frame.image = apply_turbo(view.depth);
      return frame;
    }
    case RenderMode::Pca: {
      m_semantics_asked = true;
      if (m_pca_source == nullptr) fail_usage("pca mode: {}", m_info["modes"]["pca"]["reason"].get<std::string>());
      const SegmentView view = render_field_view(*m_pca_source, camera, "viewer", 0);
      // Fitted on the first view asked for, then kept, so colours stay put while the camera moves.
      if (!m_pca) m_pca.emplace(view.maps);
      frame.image = m_pca->apply(view.maps);
      frame.depth = view.depth;
      frame.opacity = view.opacity;
      return frame;
    }
    case RenderMode::Labels: {
      m_semantics_asked = true;
      if (m_label_source == nullptr)
        fail_usage("labels mode: {}", m_info["modes"]["labels"]["reason"].get<std::string>());
      const SegmentView view = render_field_view(*m_label_source, camera, "viewer", 0);
      frame.image = colorize_labels(view.maps.argmax(0));
      frame.depth = view.depth;
      frame.opacity = view.opacity;
      return frame;
    }
    case RenderMode::Relevancy: {
      if (text.empty()) fail_usage("relevancy mode: type a text query first");
      const QueryMaps maps = query_maps(camera, text);
      frame.image = apply_turbo(tensor_to_image(maps.relevancy), 0.0f, 1.0f, false);
      frame.depth = maps.depth;
      frame.opacity = maps.opacity;
      return frame;
    }
  }
  SEMFIELD_ASSERT(false, "unhandled render mode");
}

RenderedView ViewerScene::exact_view(const Camera& camera) {
  const std::string key = camera_key(camera);
  if (!m_last_view || m_last_view_key != key) {
    m_last_view.reset();
    // A model that renders its semantics in its colour pass (gp-nerf, gnesf with 2D maps), once the page has asked
    // for semantics: one pass for both, the semantics kept for the labels / PCA modes and the clicks on this view.
    // (Not before: GNeSF's vote costs seconds a view that a user who only looks at colour should not pay.)
    m_last_view = m_semantics_asked && m_own_cache != nullptr && m_own_cache->renders_colour()
                      ? m_own_cache->render_colour(camera, m_background)
                      : render_view(*m_run.model, camera, m_background);
    m_last_view_key = key;
  }
  return *m_last_view;
}

ViewerScene::QueryMaps ViewerScene::query_maps(const Camera& camera, const std::string& text) {
  if (!m_query) fail_usage("{}", m_query_error);
  // CLIP features are coarse: render them at most 256 pixels on a side and upsample, as `semfield query` does.
  const SegmentView view = render_field_view(*m_query_field->model, working_camera(camera, 256), "viewer", 0);
  const TextQueryResult result = m_query->run(view.maps, view.opacity, {text});
  const int64_t h = camera.intrinsics.height, w = camera.intrinsics.width;
  return {resample_bilinear(result.relevancy.front(), h, w), resample_nearest(view.depth, h, w),
          resample_nearest(view.opacity, h, w)};
}

at::Tensor ViewerScene::relevancy(const Camera& camera, const std::string& text) {
  return query_maps(camera, text).relevancy;
}

Segmenter& ViewerScene::session_segmenter(ViewerSession& session) {
  if (m_segment_source == nullptr) fail_usage("{}", m_segment_error);
  if (!session.segmenter)
    session.segmenter = m_segment_field != nullptr
                            ? make_segmenter(*m_segment_field, m_options.method)
                            : make_segmenter(*m_segment_source, m_segment_origin, m_options.method);
  return *session.segmenter;
}

const SegmentView& ViewerScene::prepared_view(ViewerSession& session, const Camera& camera) {
  m_semantics_asked = true;
  const std::string key = camera_key(camera);
  if (!session.prepared || session.prepared_key != key) {
    Segmenter& segmenter = session_segmenter(session);
    session.prepared.reset();
    session.prepared = segmenter.prepare(camera, "viewer");
    session.prepared_key = key;
  }
  return *session.prepared;
}

void ViewerScene::prepare(ViewerSession& session, const Camera& camera) { prepared_view(session, camera); }

at::Tensor ViewerScene::click(ViewerSession& session, const Camera& camera, const Prompts& prompts) {
  const SegmentView& view = prepared_view(session, camera);
  SessionOptions options;
  options.selection_resolution = m_options.selection_resolution;
  // Only prompted views vote: a followed frame's mistakes must not leak into the selection while orbiting.
  options.vote_followed_views = false;
  auto draft = std::make_unique<SegmentSession>(*session.segmenter, *m_run.model, options);
  at::Tensor mask = draft->prompt(view, prompts);
  session.draft = std::move(draft);
  if (session.committed) mask = mask | selection_at_surface(*session.committed, camera, view.depth, view.opacity);
  session.mask = mask;
  return mask;
}

at::Tensor ViewerScene::overlay(ViewerSession& session, const Camera& camera, const RenderedFrame& surface,
                                bool refined) {
  if (!session.draft && !session.committed) return {};
  at::Tensor depth = surface.depth, opacity = surface.opacity, mask;
  if (session.draft && refined) {
    const SegmentView& view = prepared_view(session, camera);
    depth = view.depth;
    opacity = view.opacity;
    // Seeded by the selection at the view's own surface (no second render), and not voted: a frame only shows.
    mask = session.draft->follow(view, selection_at_surface(session.draft->selection(), camera, depth, opacity),
                                 /*vote=*/false);
  }
  if (!depth.defined()) {
    const SegmentView view = render_depth_view(*m_run.model, camera, "viewer");
    depth = view.depth;
    opacity = view.opacity;
  }
  if (session.draft && !refined) mask = selection_at_surface(session.draft->selection(), camera, depth, opacity);
  if (session.committed) {
    const at::Tensor lifted = selection_at_surface(*session.committed, camera, depth, opacity);
    mask = mask.defined() ? (mask | lifted) : lifted;
  }
  session.mask = mask;
  return mask;
}

int64_t ViewerScene::lift(ViewerSession& session) {
  if (!session.draft) fail_usage("nothing to lift: click an object first");
  const Selection& draft = session.draft->selection();
  if (!session.committed) session.committed.emplace(empty_selection(*m_run.model, m_options.selection_resolution));
  session.committed->positive() += draft.positive();
  session.committed->negative() += draft.negative();
  session.draft.reset();
  return session.committed->selected_count();
}

void ViewerScene::reset(ViewerSession& session) {
  session.draft.reset();
  session.committed.reset();
  session.mask = at::Tensor();
}

std::vector<uint8_t> ViewerScene::object_mesh(const ViewerSession& session, MeshFormat format) {
  const Selection* selection = session.committed ? &*session.committed
                               : session.draft   ? &session.draft->selection()
                                                 : nullptr;
  if (selection == nullptr || selection->empty()) fail_usage("export: nothing is selected (click an object first)");
  if (!m_scene_mesh) {
    SceneMeshOptions options;
    options.grid.resolution = m_options.mesh_resolution;
    options.colors = false;  // only the exported part gets colours
    m_scene_mesh = extract_scene_mesh(*m_run.model, options);
    log::info("serve: scene mesh of {} faces in {:.2f} s", m_scene_mesh->mesh.n_faces(),
              m_scene_mesh->sample_seconds + m_scene_mesh->surface_seconds + m_scene_mesh->cleanup_seconds);
  }
  const TriangleMesh& mesh = m_scene_mesh->mesh;
  if (mesh.faces.empty()) fail_usage("export: the run's density never exceeds the surface threshold");
  const std::vector<uint8_t> selected = faces_in_selection(mesh, *selection);
  size_t n_selected = 0;
  for (const uint8_t s : selected) n_selected += s;
  if (n_selected == 0) fail_usage("export: the selection covers no face of the scene's mesh");
  const TriangleMesh object = finish_mesh_for_export(*m_run.model, cut_object(mesh, selected), m_scene_mesh->spacing);

  // The mesh writers write files; go through a private temporary one.
  static std::atomic<int> counter{0};
  const char* extension = format == MeshFormat::Ply ? ".ply" : format == MeshFormat::Glb ? ".glb" : ".obj";
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     fmt::format("semfield-serve-{}-{}{}", getpid(), counter++, extension);
  try {
    write_mesh(path, object);
    std::vector<uint8_t> bytes = read_file_bytes(path);
    std::filesystem::remove(path);
    return bytes;
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    throw;
  }
}

}  // namespace semfield
