// The simulated DINO teacher (simulated_dino.h).
#include "semfield/teachers/simulated_dino.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"

namespace semfield {

namespace {

constexpr int64_t kSimDinoParts = 64;     // part ids beyond this share the last code
constexpr int64_t kSimDinoFourier = 16;   // random Fourier frequencies of the position code
constexpr int64_t kSimDinoInstanceFourier = 8;

at::Generator sim_dino_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// Random Fourier features of points [N,3]: [N, 2F] = sin / cos of (points . B^T + phase).
at::Tensor sim_dino_fourier(const at::Tensor& points, const at::Tensor& frequencies, const at::Tensor& phases) {
  const at::Tensor arg = at::matmul(points, frequencies.t()) + phases;
  return at::cat({at::sin(arg), at::cos(arg)}, -1);
}

}  // namespace

uint64_t simulated_teacher_key(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

double simulated_dino_auto_scale(const SimulatedDinoOptions& o) {
  const double a = o.part_weight, b = o.position_weight;
  const double energy = a * a + b * b + o.appearance_weight * o.appearance_weight +
                        o.instance_noise * o.instance_noise * (a * a + b * b) + o.pixel_noise * o.pixel_noise * a * a;
  return energy > 0 ? std::sqrt(static_cast<double>(o.dim) / energy) : 1.0;
}

at::Tensor simulated_dino_map(const at::Tensor& part_ids, const at::Tensor& canonical, uint64_t instance_key,
                              uint64_t view_key, const SimulatedDinoOptions& o, const at::Tensor& image) {
  SEMFIELD_ASSERT(part_ids.dim() == 2 && canonical.dim() == 3 && canonical.size(2) == 3 &&
                      canonical.size(0) == part_ids.size(0) && canonical.size(1) == part_ids.size(1),
                  "simulated_dino_map: part_ids [H,W] and canonical [H,W,3] expected");
  SEMFIELD_ASSERT(o.dim >= 1 && o.stride >= 1, "simulated_dino_map: bad options");
  const int64_t h = part_ids.size(0), w = part_ids.size(1), d = o.dim, s = o.stride;
  const at::Tensor ids = part_ids.to(at::kLong).reshape(-1);
  const at::Tensor fg = ids.gt(0);
  const at::Tensor p = canonical.to(at::kFloat).reshape({-1, 3});
  const auto scaled = [](const at::Tensor& t, double scale) { return t * static_cast<float>(scale); };

  // The teacher's own codes: the same for every instance.
  at::Generator g = sim_dino_generator(splitmix64_finalize(o.seed));
  const at::Tensor part_codes = at::randn({kSimDinoParts, d}, g, at::kFloat);
  const at::Tensor unit_parts = part_codes / part_codes.norm(2, 1, true);
  const at::Tensor freq = at::randn({kSimDinoFourier, 3}, g, at::kFloat) * 2.5f;
  const at::Tensor phase = at::rand({kSimDinoFourier}, g, at::kFloat) * static_cast<float>(2 * M_PI);
  // ||fourier(p)||^2 = F, so entries of variance 1 / (F d) give the position code an expected norm of 1.
  const at::Tensor pos_proj = at::randn({2 * kSimDinoFourier, d}, g, at::kFloat) /
                              static_cast<float>(std::sqrt(static_cast<double>(kSimDinoFourier * d)));
  // Per instance: offsets of the part codes and a smooth random field over canonical space.
  at::Generator gi = sim_dino_generator(splitmix64_finalize(o.seed ^ splitmix64_finalize(instance_key)));
  const at::Tensor part_offsets = at::randn({kSimDinoParts, d}, gi, at::kFloat) / static_cast<float>(std::sqrt(d));
  const at::Tensor ifreq = at::randn({kSimDinoInstanceFourier, 3}, gi, at::kFloat) * 1.5f;
  const at::Tensor iphase = at::rand({kSimDinoInstanceFourier}, gi, at::kFloat) * static_cast<float>(2 * M_PI);
  const at::Tensor iproj = at::randn({2 * kSimDinoInstanceFourier, d}, gi, at::kFloat) /
                           static_cast<float>(std::sqrt(static_cast<double>(kSimDinoInstanceFourier * d)));
  // The appearance code: random Fourier features of the colour (the teacher's own, drawn after the others).
  const at::Tensor cfreq = at::randn({kSimDinoFourier, 3}, g, at::kFloat) * 3.0f;
  const at::Tensor cphase = at::rand({kSimDinoFourier}, g, at::kFloat) * static_cast<float>(2 * M_PI);
  const at::Tensor cproj = at::randn({2 * kSimDinoFourier, d}, g, at::kFloat) /
                           static_cast<float>(std::sqrt(static_cast<double>(kSimDinoFourier * d)));

  const at::Tensor part = ids.clamp(0, kSimDinoParts - 1);
  // The position code sees x folded towards |x| (left/right confusion).
  const at::Tensor x = p.select(1, 0);
  const at::Tensor folded =
      at::stack({x * static_cast<float>(1.0 - o.symmetry) + x.abs() * static_cast<float>(o.symmetry), p.select(1, 1),
                 p.select(1, 2)}, 1);
  at::Tensor f = scaled(unit_parts.index_select(0, part), o.part_weight) +
                 scaled(at::matmul(sim_dino_fourier(folded, freq, phase), pos_proj), o.position_weight) +
                 scaled(part_offsets.index_select(0, part), o.instance_noise * o.part_weight) +
                 scaled(at::matmul(sim_dino_fourier(p, ifreq, iphase), iproj),
                        o.instance_noise * o.position_weight);
  if (o.appearance_weight > 0) {
    SEMFIELD_ASSERT(image.defined() && image.dim() == 3 && image.size(0) == 3 && image.size(1) == h && image.size(2) == w,
                    "simulated_dino_map: the appearance code needs the image [3,H,W]");
    const at::Tensor rgb = image.to(at::kFloat).reshape({3, -1}).t();
    f = f + scaled(at::matmul(sim_dino_fourier(rgb, cfreq, cphase), cproj), o.appearance_weight);
  }
  f = f * fg.unsqueeze(1).to(at::kFloat);

  // Mean over each cell's foreground pixels.
  const int64_t ch = (h + s - 1) / s, cw = (w + s - 1) / s;
  at::Tensor grid = at::zeros({ch * s, cw * s, d}, f.options());
  at::Tensor count = at::zeros({ch * s, cw * s}, f.options());
  grid.narrow(0, 0, h).narrow(1, 0, w).copy_(f.view({h, w, d}));
  count.narrow(0, 0, h).narrow(1, 0, w).copy_(fg.view({h, w}).to(at::kFloat));
  const at::Tensor sum = grid.view({ch, s, cw, s, d}).sum({1, 3});
  const at::Tensor n = count.view({ch, s, cw, s}).sum({1, 3});
  at::Tensor cells = sum / n.clamp_min(1.0f).unsqueeze(2);
  // Per-view noise, then zero where the cell's centre pixel (the nearest resize of the alpha) is background.
  at::Generator gv = sim_dino_generator(splitmix64_finalize(instance_key ^ splitmix64_finalize(view_key + 0x9E37ull)));
  cells = cells + scaled(at::randn({ch, cw, d}, gv, at::kFloat), o.pixel_noise * o.part_weight / std::sqrt(d));
  const at::Tensor cy = at::clamp_max(at::arange(ch, at::kLong) * s + s / 2, h - 1);
  const at::Tensor cx = at::clamp_max(at::arange(cw, at::kLong) * s + s / 2, w - 1);
  const at::Tensor centre_fg = fg.view({h, w}).index_select(0, cy).index_select(1, cx);
  const double scale = o.scale > 0 ? o.scale : simulated_dino_auto_scale(o);
  cells = cells * (centre_fg.unsqueeze(2).to(at::kFloat) * static_cast<float>(scale));
  return cells.permute({2, 0, 1}).contiguous();
}

}  // namespace semfield
