// FeatureNeRF's network (../shared/papers/featurenerf-*.txt §3; pixelNeRF's conditioning, §3.1): from one posed image
// of an object (or several, averaged), density, colour, a distilled foundation-model feature and the canonical
// coordinate at any 3D point, through a 512-d internal feature v_NeRF that is view-independent.
//
//   encode     source images -> multi-layer ResNet features (encoders/pixel_encoder.h) [V,C,H/2,W/2]; a 1x1
//              convolution turns them into the three injections z_0..z_2 (3 x width channels), kept channels-last.
//              Bilinear sampling is linear, so projecting the map once per image equals projecting every sample's
//              gathered feature (pixelNeRF's per-block lin_z), at the cost of a gather of 3 W channels per sample
//              instead of C x 3 W multiply-adds.
//   g_NeRF     per source view: x in the source camera frame (world units) with its positional encoding;
//              h1 = relu(L0 PE(x) + z_0), h2 = relu(L1 h1 + z_1), h3 = relu(L2 h2 + z_2); the views' h3 averaged;
//              v_NeRF = L3 h3 (feature_dim), the paper's 4-layer MLP (Eq. 6). No view direction enters v_NeRF.
//   heads      one layer each on relu(v_NeRF): sigma = softplus(.) and x^ (the canonical coordinate, Eq. 7) without
//              the view direction; colour = sigmoid(. [relu(v_NeRF), d]) and the distilled feature v = .[relu(v_NeRF),
//              d] with the ray direction d in the (first) source camera's frame (Eq. 6).
//   render     n_coarse stratified samples between the ray's entry into and exit from the scene box, n_fine
//              importance samples from the coarse weights; the fine pass composites coarse + fine samples (one MLP
//              for both, as the authors' share_mlp: the coarse samples' outputs are reused, not recomputed). Colour
//              over a background; the feature v and v_NeRF composited without one (the teacher is zero there).
//
// Shapes: V source views, R rays, S samples per ray, N points.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "semfield/core/tensor_state.h"
#include "semfield/encoders/pixel_encoder.h"
#include "semfield/kernels/gather_project.h"
#include "semfield/models/featurenerf/featurenerf_config.h"
#include "semfield/models/ibr/ibr_network.h"

namespace semfield {

/// A scene's source views as the network reads them.
struct FeatureNerfSources {
  SourceCameraBatch cameras;  ///< normalised scene frame
  at::Tensor injections;      ///< [V,h,w,3 width] channels last
  double world_scale = 1.0;   ///< normalised units per world unit (SceneFrame::world_scale())
  int64_t size() const { return cameras.size(); }
};

/// Per-point outputs; `feature` is undefined without a teacher, the heads' outputs undefined when not asked for.
struct FeatureNerfPoints {
  at::Tensor internal;  ///< [N,F] v_NeRF
  at::Tensor sigma;     ///< [N]
  at::Tensor rgb;       ///< [N,3]
  at::Tensor feature;   ///< [N,Dt]
  at::Tensor coord;     ///< [N,3] regressed canonical coordinate (world units of the scene's files)
};

struct FeatureNerfRenderOutput {
  at::Tensor rgb, rgb_coarse;          ///< [R,3] over the background
  at::Tensor opacity, depth;           ///< [R]; depth = expected t (not divided by the opacity)
  at::Tensor feature, feature_coarse;  ///< [R,Dt] composited v (undefined without a teacher)
  at::Tensor internal;                 ///< [R,F] composited v_NeRF (with `want_internal`)
  at::Tensor ts, dts, weights;         ///< [R,S] the fine pass's samples (sorted), intervals and weights
  at::Tensor points, coord;            ///< [R,S,3] the fine pass's sample positions and regressed coordinates
  int64_t n_samples = 0;
};

class FeatureNerfNetwork {
 public:
  FeatureNerfNetwork() = default;
  explicit FeatureNerfNetwork(const FeatureNerfConfig& config);

  const FeatureNerfConfig& config() const { return m_config; }
  bool has_teacher_head() const { return m_config.teacher != "none"; }
  /// images [V,3,H,W] in [0,1] with their cameras (normalised frame) -> the sources (differentiable w.r.t. weights).
  FeatureNerfSources sources(const at::Tensor& images, const std::vector<Camera>& cameras, double world_scale) const;
  /// Outputs at points [N,3] (normalised frame) seen along unit directions dirs [N,3] (ignored without `heads`).
  FeatureNerfPoints points(const at::Tensor& x, const at::Tensor& dirs, const FeatureNerfSources& sources,
                           bool heads = true) const;
  /// Renders rays; `generator` draws stratified offsets and importance samples (deterministic midpoints and quantiles
  /// without one). `colour_only`: rgb, opacity, depth, ts / dts / weights only — no features, coordinates or sample
  /// positions gathered or composited (a colour view; ~10 % of its time went to those).
  FeatureNerfRenderOutput render(const IbrRays& rays, const FeatureNerfSources& sources, const at::Tensor& background,
                                 at::Generator* generator, bool want_internal = false, bool colour_only = false) const;

  /// Moves the weights to `device` (a GPU, on a CUDA build of LibTorch): sources, renders and training steps then run
  /// there through the LibTorch path (the fused kernel is CPU-only); tests/unit/models/device_test.cpp.
  void to(const at::Device& device);
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<at::Tensor> parameters() const;
  TensorMap state() const;
  void load_state(const TensorMap& state, const std::string& origin);

 private:
  /// points() through the fused CPU kernel (kernels/featurenerf_forward.h) or LibTorch ops (the reference, and the
  /// path training differentiates); use_fused: models/fused_inference.h, SEMFIELD_FUSED_FEATURENERF=0 keeps LibTorch.
  FeatureNerfPoints points_fused(const at::Tensor& x, const at::Tensor& dirs, const FeatureNerfSources& sources,
                                 bool heads) const;
  FeatureNerfPoints points_reference(const at::Tensor& x, const at::Tensor& dirs, const FeatureNerfSources& sources,
                                     bool heads) const;
  bool use_fused(std::initializer_list<const at::Tensor*> inputs) const;

  FeatureNerfConfig m_config;
  PixelEncoder m_encoder;
  at::Tensor m_inject_w, m_inject_b;           ///< [3W, C, 1, 1], [3W]
  std::vector<at::Tensor> m_lin_w, m_lin_b;    ///< L0..L3
  at::Tensor m_head_w, m_head_b;               ///< sigma + coord on relu(v_NeRF): [4, F], [4]
  at::Tensor m_view_w, m_view_b;               ///< colour + feature on [relu(v_NeRF), d]: [3 + Dt, F + 3]
};

}  // namespace semfield
