// Where GP-NeRF's colour is lost (issue 26): with the "blend" colour a ray's colour is its fine samples' view-blended
// source colours pooled along the ray by softmax(score). This probe renders each test view of unseen scenes and
// compares, on the pixels the generator's depth map shows a surface at,
//   the model's colour                         (the learnt pooling)
//   the blend at the sample nearest the depth  (an oracle pooling: what a pooling that found the surface would give)
// and reports how much pooling mass the model puts within +-2 samples of that sample. It separates what the pooling
// along the ray loses from what the per-sample view blend cannot give.
//
//   gpnerf_colour_probe MODEL SCENE...   (generated scene folders with depth maps; the LibTorch path is used)
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/error.h"
#include "semfield/data/scene.h"
#include "semfield/models/scene_frame.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"
#include "semfield/models/gpnerf/gpnerf_model.h"
#include "semfield/models/ibr/ibr_model.h"
#include "semfield/models/model_file.h"

namespace {
double psnr(double mse) { return -10.0 * std::log10(std::max(mse, 1e-12)); }
}  // namespace

int main(int argc, char** argv) {
  using namespace semfield;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL SCENE...\n", argv[0]);
    return 2;
  }
  try {
    setenv("SEMFIELD_FUSED_GPNERF", "0", 1);  // the per-sample colours come from the LibTorch path
    at::set_num_threads(2);
    const ModelFile file = read_model_file(argv[1]);
    if (file.type != "gp-nerf") fail_usage("{} is a {} model, not gp-nerf", argv[1], file.type);
    GpnerfConfig config = gpnerf_config_from_json(file.config, file.path.string());
    if (config.colour != "blend") fail_usage("the probe reads the \"blend\" colour; {} has \"{}\"", argv[1], config.colour);
    config.fine_min_opacity = 0;  // every ray through the transformers
    GpnerfNetwork net(config);
    net.load_state(file.weights, file.path.string());
    at::NoGradGuard no_grad;
    double se_prop_all = 0, se_prop_s = 0, se_model_all = 0, se_model_s = 0, se_oracle_s = 0, se_best_s = 0, mass_s = 0;
    int64_t n_all = 0, n_s = 0;
    for (int a = 2; a < argc; ++a) {
      const Scene scene = load_scene(argv[a]);
      const SceneFrame frame = SceneFrame::from_scene(scene);
      std::vector<Camera> cams;
      std::vector<at::Tensor> colours;
      for (const View* v : scene.split(Split::Train)) {
        cams.push_back(v->camera);
        colours.push_back(view_colours(*v, Eigen::Vector3f::Ones()));
      }
      double s_prop = 0, s_model = 0, s_oracle = 0, s_best = 0, m_s = 0, gap_sum = 0, spacing_sum = 0;
      int64_t near_ok = 0;
      int64_t c_s = 0;
      const char* limit = std::getenv("PROBE_VIEWS");
      int views_left = limit ? std::atoi(limit) : 1 << 30;
      for (const View* view : scene.split(Split::Test)) {
        if (views_left-- <= 0) break;
        if (!view->depth) fail_input(view->image_path, "", "the view has no depth map");
        const kernels::Rays rays = kernels::generate_image_rays(view->camera);
        const std::vector<int> idx =
            source_views_for_rays(rays.origins, rays.directions, cams, config.source_views);
        std::vector<Camera> sc;
        std::vector<at::Tensor> si;
        for (int i : idx) {
          sc.push_back(cams[static_cast<size_t>(i)]);
          si.push_back(colours[static_cast<size_t>(i)]);
        }
        const GpnerfSources src = net.prepare(sc, at::stack(si));
        const at::Tensor truth = view_colours(*view, Eigen::Vector3f::Ones()).permute({1, 2, 0}).reshape({-1, 3});
        const at::Tensor z = image_to_tensor(*view->depth).reshape({-1});
        const int64_t r = rays.origins.size(0);
        for (int64_t b = 0; b < r; b += 1024) {
          const int64_t n = std::min<int64_t>(1024, r - b);
          const at::Tensor o = rays.origins.narrow(0, b, n), d = rays.directions.narrow(0, b, n);
          const IbrRays ir = ibr_rays(o, d, frame, config.unbounded_extent);
          const GpnerfRenderOutput out = net.render(ir, src, at::ones({n, 3}), false, 0);
          const at::Tensor gt = truth.narrow(0, b, n), zz = z.narrow(0, b, n);
          se_model_all += (out.rgb - gt).pow(2).sum().item<double>();
          n_all += n * 3;
          const at::Tensor surf = zz.gt(0);
          const int64_t ns = surf.sum().item<int64_t>();
          if (ns == 0 || !out.sample_rgb.defined()) continue;
          const at::Tensor t = kernels::ray_distance_from_z(view->camera, d, zz);
          const at::Tensor index = (out.ts - t.unsqueeze(1)).abs().argmin(1);  // [n]
          const at::Tensor oracle =
              out.sample_rgb.gather(1, index.view({n, 1, 1}).expand({n, 1, 3})).squeeze(1);  // [n,3]
          // the best single sample: the one whose blend is nearest the truth (an upper bound on any pooling of one)
          const at::Tensor err = (out.sample_rgb - gt.unsqueeze(1)).pow(2).sum(2).masked_fill(out.valid.logical_not(), 1e9);
          const at::Tensor best = std::get<0>(err.min(1));
          const at::Tensor wts = at::softmax(out.sample_score.masked_fill(out.valid.logical_not(), -1e9), 1);
          const at::Tensor pos = at::arange(out.ts.size(1)).view({1, -1});
          const at::Tensor near = (pos - index.view({-1, 1})).abs().le(2).to(at::kFloat);
          const at::Tensor sf = surf.to(at::kFloat);
          // the blends composited with the proposal's weights at the fine samples, over the background (white)
          const at::Tensor prop = (out.weights.unsqueeze(2) * out.sample_rgb).sum(1) +
                                  (1.0f - out.weights.sum(1, true)).clamp_min(0.0f);
          s_prop += ((prop - gt).pow(2).sum(1) * sf).sum().item<double>();
          se_prop_all += (prop - gt).pow(2).sum().item<double>();
          const at::Tensor gap = (out.ts.gather(1, index.view({n, 1})).squeeze(1) - t).abs();
          const at::Tensor spacing = (out.ts.narrow(1, 1, out.ts.size(1) - 1) - out.ts.narrow(1, 0, out.ts.size(1) - 1))
                                         .abs().mean(1);
          gap_sum += (gap * sf).sum().item<double>();
          spacing_sum += (spacing * sf).sum().item<double>();
          near_ok += (gap.lt(0.01f) * surf).sum().item<int64_t>();
          s_model += ((out.rgb - gt).pow(2).sum(1) * sf).sum().item<double>();
          s_oracle += ((oracle - gt).pow(2).sum(1) * sf).sum().item<double>();
          s_best += (best * sf).sum().item<double>();
          m_s += ((wts * near).sum(1) * sf).sum().item<double>();
          c_s += ns;
        }
      }
      std::printf("%s  surface pixels %lld: PSNR model %.2f  oracle-pooled %.2f  best sample %.2f  pooling mass "
                  "within 2 samples %.3f\n",
                  argv[a], static_cast<long long>(c_s), psnr(s_model / (3.0 * c_s)), psnr(s_oracle / (3.0 * c_s)),
                  psnr(s_best / (3.0 * c_s)), m_s / c_s);
      std::printf("  surface pixels composited with the proposal's weights: %.2f\n", psnr(s_prop / (3.0 * c_s)));
      se_prop_s += s_prop;
      std::printf("  nearest fine sample to the surface: mean distance %.4f, median sample spacing %.4f, within 0.01: %.3f\n",
                  gap_sum / c_s, spacing_sum / c_s, static_cast<double>(near_ok) / c_s);
      std::fflush(stdout);
      se_model_s += s_model;
      se_oracle_s += s_oracle;
      se_best_s += s_best;
      mass_s += m_s;
      n_s += c_s;
    }
    std::printf("all: every pixel composited with the proposal's weights %.2f, surface pixels %.2f\n",
                psnr(se_prop_all / n_all), psnr(se_prop_s / (3.0 * n_s)));
    std::printf("all: PSNR model (every pixel) %.2f; surface pixels: model %.2f  oracle-pooled %.2f  best sample %.2f  "
                "mass within 2 samples %.3f\n",
                psnr(se_model_all / n_all), psnr(se_model_s / (3.0 * n_s)), psnr(se_oracle_s / (3.0 * n_s)),
                psnr(se_best_s / (3.0 * n_s)), mass_s / n_s);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
