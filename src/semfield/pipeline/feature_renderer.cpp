// Whole-view feature rendering, PCA pictures and label colours.
#include "semfield/pipeline/feature_renderer.h"

#include <chrono>
#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/progress.h"
#include "semfield/io/image_torch.h"
#include "semfield/kernels/ray_generation.h"

namespace semfield {

namespace {

RenderedFeatures features_of(const SemanticRenderOutput& out, const Camera& camera) {
  const int64_t w = camera.intrinsics.width, h = camera.intrinsics.height;
  RenderedFeatures result;
  for (const at::Tensor& m : out.maps) result.maps.push_back(m.view({h, w, -1}).permute({2, 0, 1}).contiguous());
  result.opacity = out.opacity.view({h, w});
  if (out.latent.defined()) result.latent = out.latent.view({h, w, -1}).permute({2, 0, 1}).contiguous();
  if (out.instances.defined()) result.instances = out.instances.view({h, w, -1}).permute({2, 0, 1}).contiguous();
  return result;
}

}  // namespace

RenderedFeatures render_features(const SemanticSource& source, const Camera& camera) {
  const auto start = std::chrono::steady_clock::now();
  RenderedFeatures result = features_of(source.render_view(camera), camera);
  result.seconds = seconds_since(start);
  return result;
}

RenderedFeatures render_features_with_colour(const SemanticSource& source, const Camera& camera,
                                             const Eigen::Vector3f& background) {
  const auto start = std::chrono::steady_clock::now();
  const SemanticRenderOutput out = source.render_view_with_colour(camera, background);
  RenderedFeatures result = features_of(out, camera);
  result.view = view_from_colour_pass(camera, out);
  result.seconds = result.view->seconds = seconds_since(start);
  return result;
}

Camera camera_for_map(const Camera& camera, int64_t map_height, int64_t map_width) {
  Camera out = camera;
  out.intrinsics = camera.intrinsics.resized(static_cast<int>(map_width), static_cast<int>(map_height));
  return out;
}

FeaturePca::FeaturePca(const at::Tensor& features) {
  at::NoGradGuard no_grad;
  if (features.dim() != 3 || features.numel() == 0) fail_usage("PCA needs features [C,H,W]");
  at::Tensor x = features.reshape({features.size(0), -1}).t().to(at::kFloat);  // [N,C]
  if (x.size(0) > 65536) x = x.index_select(0, at::linspace(0, x.size(0) - 1, 65536).to(at::kLong));
  m_mean = x.mean(0);
  const at::Tensor centred = x - m_mean;
  const int64_t c = x.size(1);
  // Principal axes from the covariance's eigenvectors (largest eigenvalues last in eigh's order).
  const at::Tensor cov = at::matmul(centred.t(), centred) / std::max<int64_t>(x.size(0) - 1, 1);
  const auto [values, vectors] = at::linalg_eigh(cov.to(at::kDouble));
  const int64_t k = std::min<int64_t>(3, c);
  m_components = at::zeros({c, 3});
  m_components.narrow(1, 0, k).copy_(vectors.narrow(1, c - k, k).flip({1}).to(at::kFloat));
  const at::Tensor projected = at::matmul(centred, m_components);
  m_low = at::quantile(projected, 0.01, 0);
  m_high = at::quantile(projected, 0.99, 0);
}

Image FeaturePca::apply(const at::Tensor& features) const {
  at::NoGradGuard no_grad;
  if (features.dim() != 3 || features.size(0) != m_mean.size(0))
    fail_usage("PCA: expected features [{},H,W], got {} dimensions", m_mean.size(0), features.dim());
  const int64_t h = features.size(1), w = features.size(2);
  const at::Tensor x = features.reshape({features.size(0), -1}).t().to(at::kFloat);
  const at::Tensor rgb =
      ((at::matmul(x - m_mean, m_components) - m_low) / (m_high - m_low).clamp_min(1e-8f)).clamp(0.0f, 1.0f);
  return tensor_to_image(rgb.reshape({h, w, 3}));
}

Eigen::Vector3f label_color(int64_t id) {
  if (id < 0) return Eigen::Vector3f::Zero();
  if (id == 0) return Eigen::Vector3f::Constant(0.25f);
  // Golden-ratio hue steps keep neighbouring ids far apart; saturation/value alternate for more contrast.
  const double hue = std::fmod(static_cast<double>(id) * 0.6180339887498949, 1.0) * 6.0;
  const double s = id % 2 == 0 ? 0.65 : 0.9, v = id % 3 == 0 ? 0.8 : 0.95;
  const int sector = static_cast<int>(hue);
  const double f = hue - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r = v, g = t, b = p;
  switch (sector % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  return {static_cast<float>(r), static_cast<float>(g), static_cast<float>(b)};
}

Image colorize_labels(const at::Tensor& ids) {
  if (ids.dim() != 2) fail_usage("label map must be [H,W]");
  const at::Tensor c = ids.to(at::kLong).contiguous();
  const int64_t h = c.size(0), w = c.size(1);
  Image image(static_cast<int>(w), static_cast<int>(h), 3);
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t i = 0; i < h * w; ++i) {
    const Eigen::Vector3f col = label_color(p[i]);
    for (int k = 0; k < 3; ++k) image.pixels[static_cast<size_t>(i) * 3 + k] = col[k];
  }
  return image;
}

}  // namespace semfield
