// The simulated open-vocabulary (CLIP) teacher.
#include "semfield/teachers/simulated_clip.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/teachers/clip_teacher.h"

namespace semfield {

namespace {

constexpr int64_t kSimClipGroups = 4;  // concept groups: names in one group have similar embeddings

uint64_t sim_clip_name_key(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return splitmix64_finalize(h);
}

at::Tensor sim_clip_unit(uint64_t key, int64_t dim) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(splitmix64_finalize(key));
  const at::Tensor v = at::randn({dim}, g);
  return v / v.norm();
}

double sim_clip_uniform(uint64_t key) { return static_cast<double>(splitmix64_at(key) >> 11) * 0x1.0p-53; }

// The image-side shared direction (the modality gap) and the background's image direction.
at::Tensor sim_clip_shared(const SimulatedClipOptions& o) { return sim_clip_unit(o.seed ^ 0x5A4Eull, o.dim); }
at::Tensor sim_clip_void(const SimulatedClipOptions& o) { return sim_clip_unit(o.seed ^ 0x701Dull, o.dim); }

// A name's concept vector: its group's component plus its own (cosine ~0.45 within a group, ~0 across).
at::Tensor sim_clip_concept(const std::string& name, const SimulatedClipOptions& o) {
  const uint64_t key = sim_clip_name_key(name);
  const int64_t group = static_cast<int64_t>(key % kSimClipGroups);
  const at::Tensor v = 0.67 * sim_clip_unit(o.seed ^ (0x6900ull + static_cast<uint64_t>(group)), o.dim) +
                       0.74 * sim_clip_unit(o.seed ^ key, o.dim);
  return v / v.norm();
}

at::Tensor sim_clip_blur(const at::Tensor& maps, double sigma) {
  if (sigma <= 0) return maps;
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(2 * sigma)));
  at::Tensor k = at::arange(-radius, radius + 1, at::kFloat);
  k = at::exp(-k * k / static_cast<float>(2 * sigma * sigma));
  k = k / k.sum();
  const int64_t c = maps.size(0);
  at::Tensor x = maps.unsqueeze(0);
  x = at::replication_pad2d(x, {radius, radius, 0, 0});
  x = at::conv2d(x, k.view({1, 1, 1, -1}).expand({c, 1, 1, 2 * radius + 1}).contiguous(), at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, c);
  x = at::replication_pad2d(x, {0, 0, radius, radius});
  x = at::conv2d(x, k.view({1, 1, -1, 1}).expand({c, 1, 2 * radius + 1, 1}).contiguous(), at::Tensor(), at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, c);
  return x.squeeze(0);
}

}  // namespace

at::Tensor simulated_clip_text_embeddings(const std::vector<std::string>& names, const SimulatedClipOptions& o) {
  if (names.empty()) fail_usage("simulated CLIP: the class list is empty");
  const at::Tensor shared = sim_clip_shared(o);
  std::vector<at::Tensor> rows;
  for (const std::string& name : names) {
    const double bias = o.text_bias * sim_clip_uniform(sim_clip_name_key(name) ^ o.seed ^ 0xB1A5ull);
    const at::Tensor t = sim_clip_concept(name, o) + bias * shared;
    rows.push_back(t / t.norm());
  }
  return at::stack(rows);
}

at::Tensor simulated_clip_map(const at::Tensor& labels, const std::vector<std::string>& names, uint64_t scene_key,
                              uint64_t view_key, const SimulatedClipOptions& o) {
  if (labels.dim() != 2) fail_usage("simulated CLIP: labels must be [H,W], got {}", labels.dim());
  const int64_t n_classes = static_cast<int64_t>(names.size());
  const at::Tensor ids = labels.to(at::kLong);
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() > n_classes))
    fail_usage("simulated CLIP: label ids must lie in [0, {}] (0 = nothing, k = class k of the list)", n_classes);
  const auto [gh, gw] = aspect_grid(labels.size(0), labels.size(1), o.grid);

  // Image-side directions: row 0 the background, row k class k pulled towards its most similar class.
  std::vector<at::Tensor> concepts;
  for (const std::string& name : names) concepts.push_back(sim_clip_concept(name, o));
  std::vector<at::Tensor> dirs{sim_clip_void(o)};
  for (int64_t k = 0; k < n_classes; ++k) {
    int64_t partner = -1;
    float best = -2;
    for (int64_t j = 0; j < n_classes; ++j) {
      if (j == k || names[j] == names[k]) continue;
      const float c = (concepts[k] * concepts[j]).sum().item<float>();
      if (c > best) best = c, partner = j;
    }
    at::Tensor d = concepts[k];
    if (partner >= 0) {
      const double pull = o.confusion * sim_clip_uniform(scene_key ^ splitmix64_finalize(o.seed + 31 * k));
      d = d + pull * concepts[partner];
    }
    dirs.push_back(d / d.norm());
  }
  const at::Tensor directions = at::stack(dirs);  // [K+1, dim]

  // Area mix of the classes in each cell, bled over the neighbours.
  at::Tensor onehot = at::one_hot(ids, n_classes + 1).permute({2, 0, 1}).to(at::kFloat);
  at::Tensor mix = at::adaptive_avg_pool2d(onehot.unsqueeze(0), {gh, gw}).squeeze(0);
  mix = sim_clip_blur(mix, o.bleed_sigma);
  mix = mix / mix.sum(0, true).clamp_min(1e-6f);

  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(
      splitmix64_finalize(o.seed ^ splitmix64_finalize(scene_key) ^ splitmix64_finalize(view_key + 0x77ull)));
  // Outlier tokens: their mix becomes one random class's.
  const at::Tensor outlier = at::rand({gh, gw}, g).lt(o.outliers);
  const at::Tensor random_class = at::randint(1, std::max<int64_t>(2, n_classes + 1), {gh, gw}, g)
                                      .clamp_max(n_classes);
  const at::Tensor random_mix = at::one_hot(random_class, n_classes + 1).permute({2, 0, 1}).to(at::kFloat);
  mix = at::where(outlier.unsqueeze(0), random_mix, mix);

  at::Tensor tokens = at::matmul(mix.reshape({n_classes + 1, -1}).t(), directions);  // [gh*gw, dim]
  tokens = tokens + static_cast<float>(o.noise / std::sqrt(static_cast<double>(o.dim))) *
                        at::randn({gh * gw, o.dim}, g);
  tokens = tokens + static_cast<float>(o.context) * tokens.mean(0, true);
  tokens = tokens + static_cast<float>(o.gap) * sim_clip_shared(o).unsqueeze(0);
  return tokens.t().reshape({o.dim, gh, gw}).contiguous();
}

}  // namespace semfield
