// Mesh-guided surface rendering: rasterised depth -> a few field samples per pixel around the surface.
#include "semfield/mesh/mesh_preview.h"

#include <chrono>
#include <cstring>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/mesh/mesh_raster.h"
#include "semfield/mesh/scene_mesh.h"
#include "semfield/render/parallel_slices.h"

namespace semfield {

MeshPreview::MeshPreview(const SceneModel& model, const MeshPreviewOptions& options)
    : m_model(model), m_options(options) {
  if (options.samples < 1) fail_usage("mesh preview: samples must be >= 1, got {}", options.samples);
  if (!(options.behind >= 0) || !(options.beyond >= 0))
    fail_usage("mesh preview: behind and beyond must be >= 0, got {} and {}", options.behind, options.beyond);
  const auto start = std::chrono::steady_clock::now();
  SceneMeshOptions mesh_options;
  mesh_options.grid.resolution = options.resolution;
  mesh_options.threshold = options.threshold;
  mesh_options.colors = false;
  SceneMesh scene = extract_scene_mesh(model, mesh_options);
  m_mesh = std::move(scene.mesh);
  m_spacing = scene.spacing;
  if (options.coarse_resolution > 0) {
    mesh_options.grid.resolution = options.coarse_resolution;
    SceneMesh coarse = extract_scene_mesh(model, mesh_options);
    m_coarse_mesh = std::move(coarse.mesh);
    m_coarse_spacing = coarse.spacing;
  }
  m_extract_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

RenderedView MeshPreview::render(const Camera& camera, const Eigen::Vector3f& background, int samples,
                                 bool coarse) const {
  if (samples < 0) fail_usage("mesh preview: samples must be >= 0 (0 = the default), got {}", samples);
  const auto start = std::chrono::steady_clock::now();
  const SerialTorchScope serial;  // the slices below parallelise themselves (parallel_slices.h)
  const int w = camera.intrinsics.width, h = camera.intrinsics.height;
  RenderedView view;
  const bool light = coarse && m_options.coarse_resolution > 0;
  view.depth = rasterize_depth(light ? m_coarse_mesh : m_mesh, camera);
  const float spacing = light ? m_coarse_spacing : m_spacing;
  view.opacity = Image(w, h, 1, 0.0f);
  view.rgb = Image(w, h, 3);
  for (int64_t i = 0; i < static_cast<int64_t>(w) * h; ++i)
    for (int c = 0; c < 3; ++c) view.rgb.pixels[static_cast<size_t>(i * 3 + c)] = background[c];

  const at::Tensor zdepth = at::from_blob(view.depth.pixels.data(), {static_cast<int64_t>(w) * h});
  const at::Tensor hits = at::nonzero(zdepth > 0.0f).view({-1});
  const int64_t n_hits = hits.size(0);
  if (n_hits > 0) {
    const kernels::Rays rays = kernels::generate_image_rays(camera);
    const at::Tensor origins = rays.origins.index_select(0, hits);
    const at::Tensor dirs = rays.directions.index_select(0, hits);
    const at::Tensor t_hit = kernels::ray_distance_from_z(camera, dirs, zdepth.index_select(0, hits));

    const int k = samples > 0 ? samples : m_options.samples;
    const float span = static_cast<float>((m_options.behind + m_options.beyond) * spacing);
    const at::Tensor offsets =
        k == 1 ? at::zeros({1})
               : at::linspace(static_cast<float>(-m_options.behind * spacing),
                              static_cast<float>(m_options.beyond * spacing), k);
    const float dt = k == 1 ? 1.0f : span / static_cast<float>(k - 1);
    at::Tensor colors = at::empty({n_hits, 3});

    parallel_slices(n_hits, 8192, [&](int64_t begin, int64_t length) {
      const at::Tensor o = origins.narrow(0, begin, length), d = dirs.narrow(0, begin, length);
      const at::Tensor t = t_hit.narrow(0, begin, length).unsqueeze(1) + offsets.unsqueeze(0);  // [m,k]
      const at::Tensor points = (o.unsqueeze(1) + t.unsqueeze(2) * d.unsqueeze(1)).reshape({-1, 3});
      const at::Tensor sample_dirs = d.unsqueeze(1).expand({length, k, 3}).reshape({-1, 3});
      const PointRadiance out = m_model.radiance(points, sample_dirs);
      const at::Tensor rgb = out.rgb.view({length, k, 3});
      at::Tensor color;
      if (k == 1) {
        color = rgb.squeeze(1);
      } else {
        // Front-to-back compositing over the span, normalised by the weight it holds; where the span holds
        // almost none (the mesh is off the density's rise), the plain mean.
        const at::Tensor alpha = 1.0f - at::exp(-out.density.view({length, k}) * dt);
        const at::Tensor trans = at::cumprod(1.0f - alpha + 1e-10f, 1);
        const at::Tensor before = at::cat({at::ones({length, 1}), trans.narrow(1, 0, k - 1)}, 1);
        const at::Tensor weights = before * alpha;
        const at::Tensor total = weights.sum(1, true);
        const at::Tensor weighted = (weights.unsqueeze(2) * rgb).sum(1) / total.clamp_min(1e-6f);
        color = at::where(total > 1e-3f, weighted, rgb.mean(1));
      }
      colors.narrow(0, begin, length).copy_(color.clamp(0.0f, 1.0f));
    });

    const at::Tensor image = at::from_blob(view.rgb.pixels.data(), {static_cast<int64_t>(w) * h, 3});
    image.index_copy_(0, hits, colors);
    at::from_blob(view.opacity.pixels.data(), {static_cast<int64_t>(w) * h}).index_fill_(0, hits, 1.0f);
    view.n_samples = n_hits * k;
  }
  view.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return view;
}

}  // namespace semfield
