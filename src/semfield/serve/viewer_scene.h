// What `semfield serve` shows: a trained run with its distilled fields, rendered for any camera in each of the
// viewer's modes, segmented per session, text-queried, and cut into object meshes. Holds no HTTP.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "semfield/io/image.h"
#include "semfield/mesh/mesh_io.h"
#include "semfield/mesh/mesh_topology.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/mesh/mesh_preview.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/segment/segment_session.h"
#include "semfield/segment/text_query.h"
#include "semfield/serve/view_request.h"
#include "semfield/serve/viewer_session.h"

namespace semfield {

class ViewOutputCache;

struct ViewerOptions {
  std::filesystem::path run;
  std::string field;              ///< field to segment with ("" = choose_semantics(FieldUse::Segment))
  std::string method = "auto";    ///< segmenter method (make_segmenter)
  int selection_resolution = 128; ///< voxels along the longest side of a session's 3D selection
  int mesh_resolution = 128;      ///< density grid samples along the longest side for mesh export
  /// Density grid samples of the mesh that preview frames are rendered against (MeshPreview; moving frames
  /// use one at half this); 0 = none (every frame is volume rendered).
  int preview_resolution = 192;
  size_t max_sessions = 8;        ///< tabs kept at once (least recently used evicted)
  size_t cached_frames = 64;      ///< encoded frames kept (RenderCache)
};

/// Not thread-safe: the server calls it under one lock (model calls are not thread-safe in general, and each
/// render already uses every core). Failures a user can cause (a mode the run cannot render, a click on
/// empty space, an export with nothing selected) throw UsageError.
/// A rendered frame: the picture and the surface it shows (z-depth and opacity at the camera's resolution, from
/// the same render), so the mask overlay of a frame needs no second render.
struct RenderedFrame {
  Image image;         ///< H x W x 3 in [0,1]
  at::Tensor depth;    ///< [H,W] float32 z-depth, normalised units; 0 where opacity < 0.5
  at::Tensor opacity;  ///< [H,W] float32
};

/// Pixels [H,W] bool whose surface point (camera ray at the rendered z-depth, opacity >= 0.5) lies in the
/// selection (Selection::contains: a selected voxel).
at::Tensor selection_at_surface(const Selection& selection, const Camera& camera, const at::Tensor& depth,
                                const at::Tensor& opacity);

class ViewerScene {
 public:
  /// Loads RUN/checkpoint.ckpt and every distilled field of the run. InputError/UsageError for a bad run
  /// or a requested field that does not exist; a run without fields still serves rgb and depth.
  explicit ViewerScene(const ViewerOptions& options);
  ~ViewerScene();

  /// {"run", "cameras": [{name, split, camera}], "centre", "up", "modes": {mode: {"available", "reason"}},
  /// "fields", "segment_field", "segment_method", "text_query": {"available", "reason"},
  /// "preview": {"available", "reason", "faces", "coarse_faces", "seconds"}}.
  const nlohmann::json& info() const { return m_info; }

  /// The view in a mode as an RGB image of the camera's size, with the surface it shows. `text` is the
  /// relevancy mode's phrase. `preview`: render against the preview mesh where previewable(mode) (several
  /// times faster, approximate), else volume render; a `coarse` preview (the camera is moving) is drawn
  /// against the lighter mesh and composites 2 field samples per pixel instead of MeshPreviewOptions' 4.
  RenderedFrame render(RenderMode mode, const Camera& camera, const std::string& text, bool preview = false,
                       bool coarse = false);
  /// Whether render() can preview a mode: rgb and depth, when the preview mesh exists.
  bool previewable(RenderMode mode) const;

  /// Segmentation of a session (created on first use with its own segmenter):
  /// prompts on the camera's view start a new draft selection; the mask shown is the draft's union with
  /// the lifted selection. Returns bool [H,W].
  at::Tensor click(ViewerSession& session, const Camera& camera, const Prompts& prompts);
  /// Renders (and caches in the session) the segmentation view of a camera, so a click on it is quick.
  void prepare(ViewerSession& session, const Camera& camera);
  /// The session's object in a view; undefined when the session has selected nothing. `surface` is the view's
  /// rendered depth and opacity (RenderedFrame; may be empty when the frame came from the cache).
  /// Refined: SegmentSession::follow on the segmentation view (rendered, or reused when prepared), seeded by
  /// the selection at the view's surface instead of a second render of the selection. Quick: the selection tested at
  /// the surface points only (no render at all), for frames while the camera moves.
  at::Tensor overlay(ViewerSession& session, const Camera& camera, const RenderedFrame& surface, bool refined);
  /// Adds the draft's votes to the lifted selection and drops the draft. Returns the selected voxel count;
  /// UsageError when there is no draft.
  int64_t lift(ViewerSession& session);
  /// Forgets the session's prompts, selections and mask.
  void reset(ViewerSession& session);

  /// LERF relevancy [H,W] in [0,1] of a phrase in a view; UsageError naming why when the run cannot answer
  /// text queries.
  at::Tensor relevancy(const Camera& camera, const std::string& text);

  /// The session's selected object (lifted selection, else the draft's) as mesh file bytes in `format`,
  /// coloured, in the dataset's coordinates. The scene's surface is extracted once and kept.
  std::vector<uint8_t> object_mesh(const ViewerSession& session, MeshFormat format);

  const SceneModel& radiance() const { return *m_run.model; }
  /// The cache the run model's own semantics are read through (null for a run whose model has none): its hits are
  /// views a mode's frame or a click took from an earlier render of the same camera.
  const ViewOutputCache* own_semantics_cache() const { return m_own_cache.get(); }

 private:
  struct QueryMaps {
    at::Tensor relevancy, depth, opacity;  // [H,W] each, at the camera's resolution
  };
  QueryMaps query_maps(const Camera& camera, const std::string& text);
  /// The volume-rendered colour, depth and opacity of a camera, the last one kept (RGB then depth of one still camera
  /// render it once; after semantics were asked for, through the model's joint pass where it has one).
  RenderedView exact_view(const Camera& camera);
  const SegmentView& prepared_view(ViewerSession& session, const Camera& camera);
  Segmenter& session_segmenter(ViewerSession& session);
  const LoadedDistill* field_named(const std::string& name) const;

  ViewerOptions m_options;
  LoadedRun m_run;
  std::unique_ptr<MeshPreview> m_preview;
  Eigen::Vector3f m_background;
  std::vector<LoadedDistill> m_fields;
  std::unique_ptr<ViewOutputCache> m_own_cache;  ///< the run model's own semantics, its last views kept
  std::optional<RenderedView> m_last_view;       ///< exact_view's last view, of the camera m_last_view_key names
  std::string m_last_view_key;
  bool m_semantics_asked = false;  ///< a labels / PCA frame or a click came: exact views keep the model's semantics
  /// What clicks segment with (field_choice.h choose_semantics): a distilled field, or the run model's own
  /// semantics (m_segment_field null, m_segment_source the model).
  std::string m_segment_name, m_segment_origin;  ///< m_segment_origin: the model's own semantics, named for errors
  const LoadedDistill* m_segment_field = nullptr;
  const SemanticSource* m_segment_source = nullptr;
  /// The first distilled source with classes, else the model's own classes (labels mode).
  const SemanticSource* m_label_source = nullptr;
  /// The first distilled feature source, else the model's own features, else m_label_source (pca mode).
  const SemanticSource* m_pca_source = nullptr;
  const LoadedDistill* m_query_field = nullptr;
  std::string m_segment_error, m_query_error;
  std::optional<TextQuery> m_query;
  std::optional<FeaturePca> m_pca;
  std::optional<SceneMesh> m_scene_mesh;
  nlohmann::json m_info;
};

/// A string that identifies a camera exactly (pose, intrinsics and size), for caches.
std::string camera_key(const Camera& camera);

}  // namespace semfield
