// Random training-ray batches across images.
#include "semfield/train/pixel_sampler.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

PixelSampler::PixelSampler(const std::vector<const View*>& views) {
  if (views.empty()) throw InputError("pixel sampler: no training views");
  std::vector<Camera> cameras;
  m_offsets.push_back(0);
  for (const View* v : views) {
    if (v->rgb.empty()) fail_input(v->image_path, "", "image not loaded");
    cameras.push_back(v->camera);
    m_widths.push_back(v->rgb.width);
    m_offsets.push_back(m_offsets.back() + static_cast<int64_t>(v->rgb.width) * v->rgb.height);
  }
  m_cameras = kernels::CameraBatch::from_cameras(cameras);
  m_rgba = at::empty({m_offsets.back(), 4}, at::kFloat);
  float* dst = m_rgba.data_ptr<float>();
  for (size_t i = 0; i < views.size(); ++i) {
    const Image& img = views[i]->rgb;
    const int64_t n = static_cast<int64_t>(img.width) * img.height;
    for (int64_t p = 0; p < n; ++p) {
      float* o = dst + (m_offsets[i] + p) * 4;
      for (int c = 0; c < 3; ++c) o[c] = img.pixels[static_cast<size_t>(p * img.channels + c)];
      o[3] = img.channels == 4 ? img.pixels[static_cast<size_t>(p * 4 + 3)] : 1.0f;
    }
  }
}

RayBatch PixelSampler::sample(int64_t n, uint64_t seed) const {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor flat = at::randint(0, n_pixels(), {n}, generator, at::kLong);
  const at::Tensor jitter = at::rand({n, 2}, generator, at::kFloat);
  at::Tensor view_ids = at::empty({n}, at::kLong);
  at::Tensor uv = at::empty({n, 2}, at::kFloat);
  const int64_t* f = flat.data_ptr<int64_t>();
  const float* j = jitter.data_ptr<float>();
  int64_t* vid = view_ids.data_ptr<int64_t>();
  float* uvp = uv.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const auto it = std::upper_bound(m_offsets.begin(), m_offsets.end(), f[i]);
    const int64_t v = (it - m_offsets.begin()) - 1;
    const int64_t local = f[i] - m_offsets[static_cast<size_t>(v)];
    const int w = m_widths[static_cast<size_t>(v)];
    vid[i] = v;
    uvp[2 * i] = static_cast<float>(local % w) + j[2 * i];
    uvp[2 * i + 1] = static_cast<float>(local / w) + j[2 * i + 1];
  }
  const kernels::Rays rays = kernels::generate_rays(m_cameras, view_ids, uv);
  return {rays.origins, rays.directions, m_rgba.index_select(0, flat)};
}

}  // namespace semfield
