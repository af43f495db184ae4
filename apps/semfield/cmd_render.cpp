// `semfield render`: render dataset views or an orbit from a trained run to PNGs (and its distilled fields).
#include <algorithm>
#include <optional>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/log.h"
#include "semfield/core/progress.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/feature_renderer.h"
#include "semfield/pipeline/run_folder.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/colormap.h"

namespace semfield::cli {

namespace {

struct RenderArgs {
  std::string run, out, split, background;
  int orbit = 0;
  bool features = false, raw = false, semantic = false;
  std::vector<std::string> fields;
};

// --semantic: DIR/classes.json, the source's classes in labels.json's schema.
void write_classes(const SemanticSource& source, const std::filesystem::path& out) {
  const std::vector<std::string> names = source.class_names();
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t k = 0; k < source.channels().front(); ++k)
    classes.push_back({{"id", k},
                       {"name", static_cast<size_t>(k) < names.size() ? names[static_cast<size_t>(k)]
                                                                       : fmt::format("class_{}", k)}});
  write_file_atomic(out / "classes.json", nlohmann::json({{"classes", classes}}).dump(2) + "\n");
}

// One semantic source's maps of each view: feature sources -> <view>_<name>_pca.png (+ raw maps at the teacher's
// resolution, .npy, given its map grid); sources with classes -> <view>_<name>.png in class colours (+ raw ids,
// 16-bit PNG).
// With `semantic_ids` (--semantic; sources with classes): also <view>_semantic.png, the 8-bit class ids, and
// <view>_semantic_color.png, and DIR/classes.json; for a source with instances of its own (a gp-nerf run fine-tuned
// with an instance head) <view>_instance.png, 8-bit: 0 where the view is empty (opacity < 0.5), else the instance
// head's slot + 1, and <view>_instance_color.png.
class SemanticWriter {
 public:
  SemanticWriter(const SemanticSource& source, std::string name, const MapGrid* grid, const RenderArgs& args,
                 bool semantic_ids)
      : m_source(source), m_name(std::move(name)), m_grid(grid), m_args(args), m_out(args.out),
        m_labels(source.has_classes()), m_semantic_ids(semantic_ids) {
    if (m_semantic_ids) {
      if (!m_labels) fail_usage("render --semantic: {} has no classes", m_name);
      if (source.channels().front() > 256)
        fail_usage("render --semantic writes 8-bit class ids; {} has {} classes", m_name, source.channels().front());
      write_classes(source, m_out);
    }
  }

  void write(const std::string& view_name, const Camera& camera, const RenderedFeatures& rendered) {
    m_seconds += rendered.seconds;
    ++m_views;
    if (!m_labels) {
      if (!m_pca) m_pca.emplace(rendered.maps.front());
      write_png(m_out / (view_name + "_" + m_name + "_pca.png"), m_pca->apply(rendered.maps.front()));
      if (m_args.raw && m_grid != nullptr) {
        const auto sizes = m_grid->for_image(camera.intrinsics.height, camera.intrinsics.width);
        for (size_t s = 0; s < sizes.size(); ++s) {
          const RenderedFeatures map =
              render_features(m_source, camera_for_map(camera, sizes[s].first, sizes[s].second));
          const std::string suffix = sizes.size() > 1 ? fmt::format("_s{}", s) : "";
          write_npy(m_out / (view_name + "_" + m_name + suffix + ".npy"), tensor_to_array(map.maps[s]));
        }
      }
      return;
    }
    const at::Tensor ids = rendered.maps.front().argmax(0);
    write_png(m_out / (view_name + "_" + m_name + ".png"), colorize_labels(ids));
    // A model's own classes decoded from a rendered feature map (gp-nerf): that map's PCA too.
    if (m_grid == nullptr && rendered.latent.defined()) {
      if (!m_latent_pca) m_latent_pca.emplace(rendered.latent);
      write_png(m_out / (view_name + "_" + m_name + "_features.png"), m_latent_pca->apply(rendered.latent));
    }
    if (m_semantic_ids || m_args.raw) {
      const Image id = tensor_to_image(ids);
      if (m_semantic_ids) {
        write_png(m_out / (view_name + "_semantic.png"), id, 8, ImageRange::Raw);
        write_png(m_out / (view_name + "_semantic_color.png"), colorize_labels(ids));
      }
      if (m_args.raw) write_png(m_out / (view_name + "_" + m_name + "_ids.png"), id, 16, ImageRange::Raw);
    }
    if (m_semantic_ids && rendered.instances.defined()) {
      const at::Tensor slots =
          at::where(rendered.opacity >= 0.5f, rendered.instances.argmax(0) + 1, at::zeros({}, at::kLong));
      write_png(m_out / (view_name + "_instance.png"), tensor_to_image(slots), 8, ImageRange::Raw);
      write_png(m_out / (view_name + "_instance_color.png"), colorize_labels(slots));
    }
  }

  /// The summary line (bench/ scripts read its seconds per view).
  void finish(const char* how = "") const {
    std::printf("rendered %s (%s%s) for %zu views (%.3f s per view)\n", m_name.c_str(), m_labels ? "labels" : "features",
                how, m_views, m_seconds / static_cast<double>(std::max<size_t>(m_views, 1)));
  }

 private:
  const SemanticSource& m_source;
  std::string m_name;
  const MapGrid* m_grid;
  const RenderArgs& m_args;
  std::filesystem::path m_out;
  bool m_labels, m_semantic_ids;
  std::optional<FeaturePca> m_pca, m_latent_pca;
  double m_seconds = 0;
  size_t m_views = 0;
};

// One semantic source's maps of every job (SemanticWriter), in a pass of their own.
void render_semantics(const SemanticSource& source, const std::string& name, const MapGrid* grid,
                      const RenderArgs& args, const std::vector<std::pair<std::string, Camera>>& jobs,
                      bool semantic_ids = false) {
  SemanticWriter writer(source, name, grid, args, semantic_ids);
  ProgressBar bar("render " + name, static_cast<int64_t>(jobs.size()), "view");
  for (size_t i = 0; i < jobs.size(); ++i) {
    writer.write(jobs[i].first, jobs[i].second, render_features(source, jobs[i].second));
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  writer.finish();
}

void render_distilled(const LoadedRun& loaded, const RenderArgs& args,
                      const std::vector<std::pair<std::string, Camera>>& jobs) {
  std::vector<std::string> names = args.fields.empty() ? list_distilled(args.run) : args.fields;
  if (names.empty()) fail_usage("render --features: the run has no distilled fields (run `semfield distill` first)");
  for (const std::string& name : names) {
    const LoadedDistill field = load_distilled(args.run, name, *loaded.model);
    render_semantics(*field.model, name, &field.grid, args, jobs);
  }
}

void run_render(const RenderArgs& args) {
  if (args.split.empty() == (args.orbit == 0)) fail_usage("render: give exactly one of --split or --orbit N");
  const LoadedRun loaded = load_run(args.run);
  const Eigen::Vector3f background =
      parse_background(args.background.empty() ? loaded.background : args.background);
  std::vector<std::pair<std::string, Camera>> jobs;
  if (!args.split.empty()) {
    const Split split = parse_split(args.split);
    for (const auto& c : loaded.cameras)
      if (c.split == split) jobs.emplace_back(c.name, c.camera);
    if (jobs.empty()) fail_usage("render: the run has no {} views", args.split);
  } else {
    std::vector<Camera> dataset;
    for (const auto& c : loaded.cameras) dataset.push_back(c.camera);
    int i = 0;
    for (const Camera& cam : orbit_cameras(dataset, args.orbit)) jobs.emplace_back(fmt::format("orbit_{:03}", i++), cam);
  }
  const std::filesystem::path out(args.out);
  // A model that is its own semantic source (gnesf applied with 2D maps, gp-nerf): <view>_semantics.png (+ ids with
  // --raw), and with --semantic the id maps and classes.json — from the colour pass itself where the model renders
  // both at once (SemanticSource::renders_colour), else from a pass of their own after it.
  const SemanticSource* own = run_semantic_source(loaded);
  const bool joint = own != nullptr && own->renders_colour();
  // --semantic on a run without semantics of its own: its label field (--field NAME, else the first distilled field
  // with classes), found (or refused) before any view is rendered.
  std::optional<LoadedDistill> label_field;
  if (args.semantic && own == nullptr) {
    const std::vector<std::string> names = args.fields.empty() ? list_distilled(args.run) : args.fields;
    for (const std::string& name : names) {
      label_field.emplace(load_distilled(args.run, name, *loaded.model));
      if (label_field->model->has_classes()) break;
      label_field.reset();
    }
    if (!label_field)
      fail_usage("render --semantic: the run has no semantics (a gnesf model applied with --teacher labels:...) and "
                 "no label field (`semfield distill --teacher labels:...`)");
  }
  std::optional<SemanticWriter> own_writer;
  if (joint) own_writer.emplace(*own, "semantics", nullptr, args, args.semantic);
  ProgressBar bar(joint ? "render (colour + semantics)" : "render", static_cast<int64_t>(jobs.size()), "view");
  double seconds = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& [view_name, camera] = jobs[i];
    RenderedView view;
    if (joint) {
      RenderedFeatures rendered = render_features_with_colour(*own, camera, background);
      view = std::move(*rendered.view);
      own_writer->write(view_name, camera, rendered);
    } else {
      view = render_view(*loaded.model, camera, background);
    }
    seconds += view.seconds;
    write_png(out / (view_name + ".png"), view.rgb);
    write_png(out / (view_name + "_depth.png"), apply_turbo(view.depth));
    write_png(out / (view_name + "_opacity.png"), view.opacity);
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  std::printf("rendered %zu views to %s (%.3f s per view%s)\n", jobs.size(), out.c_str(), seconds / jobs.size(),
              joint ? ", colour and semantics in one pass" : "");
  if (joint) own_writer->finish(", in the colour pass");
  if (own != nullptr && !joint) render_semantics(*own, "semantics", nullptr, args, jobs, args.semantic);
  if (label_field) render_semantics(*label_field->model, label_field->name, &label_field->grid, args, jobs, true);
  // --field names what --semantic renders when it is all that was asked for; otherwise the fields' own pictures too.
  if (args.features || (!args.fields.empty() && (own != nullptr || !args.semantic))) render_distilled(loaded, args, jobs);
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto args = std::make_shared<RenderArgs>();
  CLI::App* cmd = app.add_subcommand("render", "Render RGB, depth and opacity PNGs from a trained run");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train`")->required();
  cmd->add_option("--split", args->split, "Render the dataset cameras of this split (train | val | test)");
  cmd->add_option("--orbit", args->orbit, "Render N views on a circle around the scene")->check(CLI::Range(1, 10000));
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--background", args->background, "white | black | r,g,b (default: the run's)");
  cmd->add_flag("--features", args->features,
                "Also render the run's distilled fields: feature PCA pictures and colour-coded label maps");
  cmd->add_option("--field", args->fields, "Only these distilled fields (repeatable; implies --features)");
  cmd->add_flag("--raw", args->raw, "With --features: also write raw feature maps (.npy) and label ids (16-bit PNG)");
  cmd->add_flag("--semantic", args->semantic,
                "Semantic maps: <view>_semantic.png (8-bit class ids), <view>_semantic_color.png and classes.json, "
                "from the run's semantics (gnesf) or its label field (--field NAME, else the first)");
  cmd->callback([args] { run_render(*args); });
}

}  // namespace semfield::cli
