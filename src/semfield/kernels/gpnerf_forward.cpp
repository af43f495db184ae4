// Fused inference of GP-NeRF's transformers: see gpnerf_forward.h.
#include "semfield/kernels/gpnerf_forward.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <ATen/ATen.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/fused_layers.h"
#include "semfield/kernels/simd_ops.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "(may be) used uninitialized" once
// inlined (a false positive in the system header; see simd_ops.h): here through exp_shift_sum's reduction.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace semfield::kernels {

namespace {

using detail::apply_layer;
using detail::kRayDiffWidth;
static_assert(kRayDiffWidth == 4, "GpBlock::keys unrolls the ray difference's four terms");
using detail::Layer;
using detail::project_block;
using detail::MapView;
using detail::padded16;
using detail::run_net;
using detail::softplus;
using detail::widest;

constexpr const char* kGpOp = "gpnerf_forward";
constexpr float kGpNormEps = 1e-6f;    // the transformers' LayerNorms
constexpr float kGpMasked = -1e9f;     // masked_fill value of the reference's ray attention and colour pooling
constexpr int64_t kGpPointBlock = 32;  // samples per block of gpnerf_points_forward
constexpr int64_t kTapChunk = 64;      // samples per chunk of GpBlock::gather's projections and taps

std::vector<float> gp_floats(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor gp_double(const at::Tensor& t) { return t.detach().to(at::kDouble); }

/// y = LayerNorm(x) per row over W channels (eps kGpNormEps); y may not alias x.
void gp_norm_rows(const float* x, int64_t ldx, int64_t rows, int64_t W, const float* w, const float* b, float* y,
                  int64_t ldy) {
#ifdef SEMFIELD_SIMD_LANES
  using L = detail::Lanes;
  if (W == 32) {  // the default width: a row in 32 / kN registers, one pass
    constexpr int NR = 32 / L::kN;
    L::V wv[NR], bv[NR];
    for (int k = 0; k < NR; ++k) {
      wv[k] = L::load(w + k * L::kN);
      bv[k] = L::load(b + k * L::kN);
    }
    for (int64_t r = 0; r < rows; ++r) {
      L::V d[NR], total = L::zero();
      for (int k = 0; k < NR; ++k) {
        d[k] = L::load(x + r * ldx + k * L::kN);
        total = L::add(total, d[k]);
      }
      const L::V mean = L::set1(L::hsum(total) / 32.0f);
      L::V squares = L::zero();
      for (int k = 0; k < NR; ++k) {
        d[k] = L::sub(d[k], mean);
        squares = L::fmadd(d[k], d[k], squares);
      }
      const L::V inv = L::set1(1.0f / std::sqrt(L::hsum(squares) / 32.0f + kGpNormEps));
      for (int k = 0; k < NR; ++k) L::store(y + r * ldy + k * L::kN, L::fmadd(L::mul(d[k], inv), wv[k], bv[k]));
    }
    return;
  }
#endif
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    const float mean = detail::sum_of(W, xr) / static_cast<float>(W);
    for (int64_t c = 0; c < W; ++c) yr[c] = xr[c] - mean;
    const float inv = 1.0f / std::sqrt(detail::dot(W, yr, yr) / static_cast<float>(W) + kGpNormEps);
    for (int64_t c = 0; c < W; ++c) yr[c] = yr[c] * inv * w[c] + b[c];
  }
}

/// Eq. 5 for one view: f[d] += a[d / rep] s[d] for d < W rep (each attention channel covers rep consecutive semantic
/// channels); `expanded` is scratch of W rep floats.
void gp_pool_semantics(const float* a, const float* s, int64_t W, int64_t rep, float* expanded, float* f) {
#ifdef SEMFIELD_SIMD_LANES
  using L = detail::Lanes;
  if (rep == 2 && W % L::kN == 0) {  // the default widths (W 32, D 64): each lane of a twice, by permutes
    for (int64_t c = 0; c < W; c += L::kN) {
      float* fd = f + 2 * c;
      L::V f0 = L::load(fd), f1 = L::load(fd + L::kN);
      L::fma_pairs(L::load(a + c), s + 2 * c, f0, f1);
      L::store(fd, f0);
      L::store(fd + L::kN, f1);
    }
    return;
  }
#endif
  const float* ar = a;
  if (rep > 1) {
    for (int64_t c = 0; c < W; ++c)
      for (int64_t r = 0; r < rep; ++r) expanded[c * rep + r] = a[c];
    ar = expanded;
  }
  for (int64_t d = 0; d < W * rep; ++d) f[d] += ar[d] * s[d];
}

float gp_sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

/// Softmax of row[0:n) in place (max-shifted).
void gp_softmax_row(float* row, int64_t n) {
  const float sum = detail::exp_shift_sum(n, row, detail::max_of(n, row));
  detail::scale_to(n, 1.0f / sum, row, row);
}

struct GpViewPacked {
  std::vector<float> norm_w, norm_b, ff_norm_w, ff_norm_b;
  std::vector<float> p1, p1b;  ///< pos_fc's first layer [P,4], [P]
  std::vector<float> aq, ap;   ///< A1 Wq [A,W], A1 P2 [A,P]
  Layer a2, p2, out_fc;        ///< attn_fc's and pos_fc's second layers, out_fc
  std::vector<Layer> ff;
};

struct GpRayPacked {
  std::vector<float> norm_w, norm_b, ff_norm_w, ff_norm_b;
  Layer qkv, out_fc;  ///< [Wq; Wk; Wv] -> 3W columns
  std::vector<Layer> ff;
};

/// The weights as the blocks read them, for the first `layers` layers.
struct GpPacked {
  int64_t C = 0, W = 0, D = 0, L = 0, A = 0, P = 0, E = 0, heads = 1;
  Layer r1;   ///< the key MLP's first layer [C + 3] -> W (ReLU)
  Layer big;  ///< hidden h -> [k (W) | each layer's values (W) | each layer's attention terms (A)]
  std::vector<GpViewPacked> view;
  std::vector<GpRayPacked> ray;
  std::vector<std::vector<Layer>> position;
  std::vector<Layer> point, rgb;
  std::vector<float> final_norm_w, final_norm_b;
  bool blend = true, per_sample = false, colour = true;
  std::vector<Layer> blend_mlp;  ///< learned blend weights (empty: the attention's mean)
  /// Every layer's pos_fc first layer as one [4, 16] block (unit l P + j of ray-difference term k at hp_w[16 k + l P +
  /// j], zero past L P) and its biases [16], when L P <= 16: the keys' hidden position units in one AVX-512 register
  /// (two AVX2 registers when L P = 16).
  std::vector<float> hp_w, hp_b;
  int64_t value_offset(int64_t l) const { return W + l * W; }
  int64_t attention_offset(int64_t l) const { return W + L * W + l * A; }
};

void gp_check_mlp(const char* name, const SmallMlpWeights& m, size_t layers) {
  TORCH_CHECK(m.weights.size() == layers && m.biases.size() == layers, kGpOp, ": ", name, " must have ", layers,
              " layers with biases, got ", m.weights.size(), " weights and ", m.biases.size(), " biases");
}

GpPacked gp_pack(const GpnerfTransformerWeights& w, int64_t layers, int64_t C, int64_t D, bool rays) {
  GpPacked p;
  gp_check_mlp("rgbfeat", w.rgbfeat, 2);
  TORCH_CHECK(layers >= 1 && static_cast<int64_t>(w.view.size()) >= layers &&
                  (!rays || static_cast<int64_t>(w.ray.size()) >= layers),
              kGpOp, ": ", layers, " layers asked, the weights have ", w.view.size(), " view and ", w.ray.size(),
              " ray transformers");
  const at::Tensor R1 = w.rgbfeat.weights[0], R2 = gp_double(w.rgbfeat.weights[1]), r2 = gp_double(w.rgbfeat.biases[1]);
  p.C = C;
  p.D = D;
  p.W = R2.size(0);
  p.L = layers;
  p.heads = w.heads;
  p.blend = w.blend;
  p.per_sample = w.blend && w.per_sample;
  p.colour = w.colour;
  TORCH_CHECK(R1.dim() == 2 && R1.size(1) == C + 3, kGpOp, ": rgbfeat takes ", R1.size(1), " inputs, the sources give ",
              C, " feature channels + 3 colours");
  p.r1 = detail::pack_layer(kGpOp, "rgbfeat.weight0", R1, &w.rgbfeat.biases[0]);
  std::vector<at::Tensor> big_rows{R2}, big_bias{r2}, attn_rows, attn_bias;
  for (int64_t l = 0; l < layers; ++l) {
    const GpnerfViewLayerWeights& v = w.view[static_cast<size_t>(l)];
    const std::string name = "view" + std::to_string(l);
    gp_check_mlp((name + ".pos_fc").c_str(), v.pos_fc, 2);
    gp_check_mlp((name + ".attn_fc").c_str(), v.attn_fc, 2);
    gp_check_mlp((name + ".out_fc").c_str(), v.out_fc, 1);
    for (const at::Tensor* t : {&v.wq, &v.wk, &v.wv})
      TORCH_CHECK(t->dim() == 2 && t->size(0) == p.W && t->size(1) == p.W, kGpOp, ": ", name,
                  "'s query / key / value maps must be [W,W] with W = ", p.W, ", got ", t->sizes());
    const at::Tensor A1 = gp_double(v.attn_fc.weights[0]), b1 = gp_double(v.attn_fc.biases[0]);
    const at::Tensor P1 = v.pos_fc.weights[0], P2 = gp_double(v.pos_fc.weights[1]), p2 = gp_double(v.pos_fc.biases[1]);
    TORCH_CHECK(A1.size(1) == p.W && P1.size(1) == kRayDiffWidth && P2.size(0) == p.W, kGpOp, ": ", name,
                "'s attn_fc must take W = ", p.W, " channels and pos_fc map 4 -> W");
    p.A = A1.size(0);
    p.P = P1.size(0);
    const at::Tensor AK = A1.mm(gp_double(v.wk));
    big_rows.push_back(gp_double(v.wv).mm(R2));
    big_bias.push_back(gp_double(v.wv).mv(r2));
    attn_rows.push_back(AK.mm(R2));
    attn_bias.push_back(AK.mv(r2) + A1.mv(p2) + b1);
    GpViewPacked vp;
    vp.norm_w = gp_floats(v.norm_w);
    vp.norm_b = gp_floats(v.norm_b);
    vp.ff_norm_w = gp_floats(v.ff_norm_w);
    vp.ff_norm_b = gp_floats(v.ff_norm_b);
    vp.p1 = gp_floats(P1);
    vp.p1b = gp_floats(v.pos_fc.biases[0]);
    vp.aq = gp_floats(A1.mm(gp_double(v.wq)));
    vp.ap = gp_floats(A1.mm(P2));
    // The view attention's second layers stay float in either precision: the default widths' register path reads
    // their weights directly, and the generic path must compute the same function.
    vp.a2 = detail::pack_layer(kGpOp, (name + ".attn_fc.weight1").c_str(), v.attn_fc.weights[1], &v.attn_fc.biases[1],
                               false);
    vp.p2 = detail::pack_layer(kGpOp, (name + ".pos_fc.weight1").c_str(), v.pos_fc.weights[1], &v.pos_fc.biases[1],
                               false);
    vp.out_fc = detail::pack_layer(kGpOp, (name + ".out_fc").c_str(), v.out_fc.weights[0], &v.out_fc.biases[0]);
    vp.ff = detail::pack_net(kGpOp, (name + ".ff").c_str(), v.ff);
    TORCH_CHECK(vp.a2.in == p.A && vp.a2.out == p.W && vp.p2.in == p.P && vp.out_fc.in == p.W && vp.out_fc.out == p.W &&
                    vp.ff.front().in == p.W && vp.ff.back().out == p.W,
                kGpOp, ": ", name, "'s layers do not fit together");
    p.view.push_back(std::move(vp));
    if (rays) {
      const GpnerfRayLayerWeights& r = w.ray[static_cast<size_t>(l)];
      const std::string rn = "ray" + std::to_string(l);
      gp_check_mlp((rn + ".out_fc").c_str(), r.out_fc, 1);
      GpRayPacked rp;
      rp.norm_w = gp_floats(r.norm_w);
      rp.norm_b = gp_floats(r.norm_b);
      rp.ff_norm_w = gp_floats(r.ff_norm_w);
      rp.ff_norm_b = gp_floats(r.ff_norm_b);
      rp.qkv = detail::pack_layer(kGpOp, (rn + ".qkv").c_str(), at::cat({r.wq, r.wk, r.wv}).to(at::kFloat), nullptr);
      rp.out_fc = detail::pack_layer(kGpOp, (rn + ".out_fc").c_str(), r.out_fc.weights[0], &r.out_fc.biases[0]);
      rp.ff = detail::pack_net(kGpOp, (rn + ".ff").c_str(), r.ff);
      TORCH_CHECK(rp.qkv.in == p.W && rp.qkv.out == 3 * p.W && rp.out_fc.in == p.W && rp.out_fc.out == p.W &&
                      rp.ff.front().in == p.W && rp.ff.back().out == p.W,
                  kGpOp, ": ", rn, "'s layers do not fit together");
      p.ray.push_back(std::move(rp));
      if (l % 2 == 0) {
        TORCH_CHECK(static_cast<int64_t>(w.position.size()) > l / 2, kGpOp, ": position MLP ", l / 2, " missing");
        p.position.push_back(detail::pack_net(kGpOp, ("position" + std::to_string(l / 2)).c_str(),
                                              w.position[static_cast<size_t>(l / 2)]));
        TORCH_CHECK(p.position.back().back().out == p.W && p.position.back().front().in > p.W, kGpOp, ": position MLP ",
                    l / 2, " must map [q, encoding] -> W");
        p.E = p.position.back().front().in - p.W;
      }
    }
  }
  if (p.L * p.P <= 16) {
    p.hp_w.assign(16 * kRayDiffWidth, 0.0f);
    p.hp_b.assign(16, 0.0f);
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t j = 0; j < p.P; ++j) {
        const GpViewPacked& vp = p.view[static_cast<size_t>(l)];
        p.hp_b[static_cast<size_t>(l * p.P + j)] = vp.p1b[static_cast<size_t>(j)];
        for (int64_t k = 0; k < kRayDiffWidth; ++k)
          p.hp_w[static_cast<size_t>(16 * k + l * p.P + j)] = vp.p1[static_cast<size_t>(kRayDiffWidth * j + k)];
      }
  }
  for (const at::Tensor& t : attn_rows) big_rows.push_back(t);
  for (const at::Tensor& t : attn_bias) big_bias.push_back(t);
  const at::Tensor big_w = at::cat(big_rows).to(at::kFloat), big_b = at::cat(big_bias).to(at::kFloat);
  p.big = detail::pack_layer(kGpOp, "folded keys", big_w, &big_b);
  p.point = detail::pack_net(kGpOp, "point", w.point);
  TORCH_CHECK(p.point.front().in == p.W && p.point.back().out == 4, kGpOp, ": the point head must map W -> 4");
  if (rays) {
    TORCH_CHECK(p.heads >= 1 && p.W % p.heads == 0 && D % p.heads == 0 && D % p.W == 0, kGpOp, ": ", p.heads,
                " heads must divide W = ", p.W, " and D = ", D, ", and W must divide D");
    p.rgb = detail::pack_net(kGpOp, "rgb", w.rgb);
    TORCH_CHECK(p.rgb.front().in == p.W && p.rgb.back().out == (p.blend ? 1 : 3), kGpOp,
                ": the colour layer must map W -> ", p.blend ? 1 : 3);
    if (!w.blend_weights.weights.empty()) {
      TORCH_CHECK(p.blend, kGpOp, ": learned blend weights need the blend, alpha or density colour");
      p.blend_mlp = detail::pack_net(kGpOp, "blend", w.blend_weights);
      TORCH_CHECK(p.blend_mlp.front().in == p.W + kRayDiffWidth && p.blend_mlp.back().out == 1, kGpOp,
                  ": the blend weights' MLP must map W + ", kRayDiffWidth, " -> 1");
    }
    p.final_norm_w = gp_floats(w.final_norm_w);
    p.final_norm_b = gp_floats(w.final_norm_b);
  }
  return p;
}

/// The maps and cameras as the gathers read them.
struct GpMaps {
  std::vector<MapView> colour, rgb, semantic;
  at::Tensor w2c, intr, origins, colours, features, semantics;  // contiguous float copies (kept alive)
  int64_t V = 0;
};

GpMaps gp_maps(const GpnerfSourceMaps& s, bool with_semantics) {
  TORCH_CHECK(s.cameras != nullptr, kGpOp, ": no source cameras");
  detail::check_float(kGpOp, "colours", s.colours, 4);
  detail::check_float(kGpOp, "rgb", s.rgb, 4);
  detail::require_cpu(kGpOp, {{"colours", &s.colours}, {"rgb", &s.rgb}, {"semantic", &s.semantic}});
  GpMaps m;
  m.V = s.cameras->size();
  TORCH_CHECK(m.V > 0 && s.colours.size(0) == m.V && s.rgb.size(0) == m.V && s.colours.size(3) == 3, kGpOp, ": ", m.V,
              " cameras need colours [V,H,W,3] and features [V,h,w,C], got ", s.colours.sizes(), " and ",
              s.rgb.sizes());
  if (with_semantics) {
    detail::check_float(kGpOp, "semantic", s.semantic, 4);
    TORCH_CHECK(s.semantic.size(0) == m.V, kGpOp, ": semantic maps of ", s.semantic.size(0), " views for ", m.V,
                " cameras");
    m.semantics = s.semantic.detach().contiguous();
  }
  m.w2c = s.cameras->w2c.detach().to(at::kFloat).contiguous();
  m.intr = s.cameras->intrinsics.detach().to(at::kFloat).contiguous();
  m.origins = s.cameras->origins.detach().to(at::kFloat).contiguous();
  const at::Tensor sizes = s.cameras->sizes.detach().to(at::kFloat).contiguous();
  m.colours = s.colours.detach().contiguous();
  m.features = s.rgb.detach().contiguous();
  for (int64_t v = 0; v < m.V; ++v) {
    const float W = sizes.data_ptr<float>()[2 * v], H = sizes.data_ptr<float>()[2 * v + 1];
    m.colour.push_back(
        {m.colours.data_ptr<float>() + v * m.colours.stride(0), m.colours.size(2), m.colours.size(1), 3, W, H});
    m.rgb.push_back({m.features.data_ptr<float>() + v * m.features.stride(0), m.features.size(2), m.features.size(1),
                     m.features.size(3), W, H});
    if (with_semantics)
      m.semantic.push_back({m.semantics.data_ptr<float>() + v * m.semantics.stride(0), m.semantics.size(2),
                            m.semantics.size(1), m.semantics.size(3), W, H});
  }
  return m;
}

/// Buffers and the steps of one block of nb samples (rows = V x nb, view-major: row = v * nb + i).
class GpBlock {
 public:
  GpBlock(const GpPacked& p, const GpMaps& m, int64_t max_nb, bool rays)
      : p_(p), m_(m), V_(m.V), Wp_(padded16(p.W)), bigp_(padded16(p.big.out)), Sp_(padded16(max_nb)) {
    const int64_t rows = V_ * max_nb;
    int64_t scratch = std::max<int64_t>(widest(p.point), Wp_);
    for (const GpViewPacked& v : p.view) scratch = std::max(scratch, widest(v.ff));
    for (const GpRayPacked& r : p.ray) scratch = std::max(scratch, widest(r.ff));
    for (const auto& pos : p.position) scratch = std::max(scratch, widest(pos));
    if (rays) scratch = std::max(scratch, widest(p.rgb));
    if (!p.blend_mlp.empty()) scratch = std::max(scratch, widest(p.blend_mlp));
    auto buf = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n), 0.0f); };
    x_ = buf(rows * (p.C + 3));
    valid_.assign(static_cast<size_t>(rows), 0);
    rd_ = buf(rows * kRayDiffWidth);
    h_ = buf(rows * Wp_);
    big_ = buf(rows * bigp_);
    hp_ = buf(rows * p.L * p.P);
    hl_ = buf(rows * p.A);
    att_ = buf(rows * Wp_);
    pos_ = buf(rows * Wp_);
    q_ = buf(max_nb * Wp_);
    xn_ = buf(max_nb * Wp_);
    agg_ = buf(max_nb * Wp_);
    tmp_ = buf(max_nb * Wp_);
    s0_ = buf(std::max(rows, max_nb) * scratch);
    s1_ = buf(s0_.size());
    aq_ = buf(max_nb * p.A);
    seen_.assign(static_cast<size_t>(max_nb), 0);
    head_ = buf(max_nb * 16);
    if (rays) {
      sem_ = buf(rows * p.D);
      field_ = buf(max_nb * p.D);
      expanded_ = buf(p.D);
      qkv_ = buf(max_nb * padded16(3 * p.W) + 16);  // + slack: a value panel may read 16 columns past a head
      qe_ = buf(max_nb * (p.W + p.E));
      kt_ = buf(p.W * Sp_);
      scores_ = buf(max_nb * Sp_);
      mask_ = buf(Sp_);
      panel_ = buf(max_nb * 16);
      mixed_ = buf(max_nb * Wp_);
      abar_ = buf(p.heads * Sp_);
      wblend_ = buf(rows);
      if (!p.blend_mlp.empty()) {
        blend_in_ = buf(rows * padded16(p.W + kRayDiffWidth));
        blend_m_ = buf(rows);
      }
    }
  }

  /// Projection and gathers of samples positions[i], directions dirs[i * dir_stride] (i < nb).
  void gather(const float* positions, const float* dirs, int64_t dir_stride, int64_t nb, bool semantics) {
    nb_ = nb;
    const float* cam = m_.w2c.data_ptr<float>();
    const float* K = m_.intr.data_ptr<float>();
    const float* org = m_.origins.data_ptr<float>();
    const int64_t xw = p_.C + 3;
    for (int64_t v = 0; v < V_; ++v) {
      const MapView& cm = m_.colour[static_cast<size_t>(v)];
      const MapView& fm = m_.rgb[static_cast<size_t>(v)];
      // In chunks: the chunk's projections first, then each map's taps 16 at a time, then the gathers (the ibr
      // kernel's order and helpers, fused_layers.h).
      for (int64_t i0 = 0; i0 < nb; i0 += kTapChunk) {
        const int64_t n = std::min(kTapChunk, nb - i0);
        project_block(cam + 12 * v, K + 4 * v, org + 3 * v, cm.W, cm.H, positions + 3 * i0, dirs + dir_stride * i0,
                      dir_stride, n, proj_);
        for (int64_t j = 0; j < n; ++j) {
          const int64_t row = v * nb + i0 + j;
          valid_[static_cast<size_t>(row)] = proj_.ok[j];
          for (int k = 0; k < kRayDiffWidth; ++k) rd_[static_cast<size_t>(kRayDiffWidth * row + k)] = proj_.rd[k][j];
        }
        gather_chunk(fm, n, x_.data() + (v * nb + i0) * xw, xw);
        gather_chunk(cm, n, x_.data() + (v * nb + i0) * xw + p_.C, xw);
        if (semantics)
          gather_chunk(m_.semantic[static_cast<size_t>(v)], n, sem_.data() + (v * nb + i0) * p_.D, p_.D);
      }
    }
  }

  /// Samples 0 .. n - 1 of the chunk projected in proj_ gathered from `m` into out + j * stride.
  void gather_chunk(const MapView& m, int64_t n, float* out, int64_t stride) {
    taps_.compute(m, proj_.u, proj_.v, n);
    taps_.gather(m, n, out, stride);
  }

  /// The keys, every layer's values and attention terms; q0 (max over the valid views' keys); pos_fc's hidden layer.
  void keys() {
    const int64_t rows = V_ * nb_, W = p_.W;
    apply_layer(p_.r1, x_.data(), p_.C + 3, rows, h_.data(), Wp_, true);
    apply_layer(p_.big, h_.data(), Wp_, rows, big_.data(), bigp_, false);
    for (int64_t i = 0; i < nb_; ++i) {
      float* q = q_.data() + i * Wp_;
      bool any = false;
      for (int64_t v = 0; v < V_; ++v) {
        if (!valid_[static_cast<size_t>(v * nb_ + i)]) continue;
        const float* k = big_.data() + (v * nb_ + i) * bigp_;
        if (!any)
          std::copy(k, k + W, q);
        else
          for (int64_t c = 0; c < W; ++c) q[c] = std::max(q[c], k[c]);
        any = true;
      }
      if (!any) std::fill(q, q + W, 0.0f);
      seen_[static_cast<size_t>(i)] = any;
    }
    const int64_t LP = p_.L * p_.P;
#ifdef __AVX512F__
    if (LP <= 16) {  // every layer's pos_fc hidden units of a row in one register (the default: 4 layers x 4)
      const __mmask16 m = detail::tail_mask(LP);
      for (int64_t row = 0; row < rows; ++row) {
        const float* r = rd_.data() + kRayDiffWidth * row;
        __m512 h = _mm512_maskz_loadu_ps(m, p_.hp_b.data());
        for (int k = 0; k < kRayDiffWidth; ++k)
          h = _mm512_fmadd_ps(_mm512_set1_ps(r[k]), _mm512_maskz_loadu_ps(m, p_.hp_w.data() + 16 * k), h);
        _mm512_mask_storeu_ps(hp_.data() + row * LP, m, _mm512_max_ps(h, _mm512_setzero_ps()));
      }
      return;
    }
#elif defined(SEMFIELD_SIMD_LANES)
    if (LP == 16) {  // the default (4 layers x 4) in two 8-lane registers (hp_w, hp_b are 16 wide)
      using L = detail::Lanes;
      for (int64_t row = 0; row < rows; ++row) {
        const float* r = rd_.data() + kRayDiffWidth * row;
        for (int half = 0; half < 16; half += L::kN) {
          L::V h = L::load(p_.hp_b.data() + half);
          for (int k = 0; k < kRayDiffWidth; ++k)
            h = L::fmadd(L::set1(r[k]), L::load(p_.hp_w.data() + 16 * k + half), h);
          L::store(hp_.data() + row * LP + half, L::max(h, L::zero()));
        }
      }
      return;
    }
#endif
    for (int64_t row = 0; row < rows; ++row) {
      const float* r = rd_.data() + kRayDiffWidth * row;
      float* hp = hp_.data() + row * LP;
      for (int64_t l = 0; l < p_.L; ++l) {
        const GpViewPacked& v = p_.view[static_cast<size_t>(l)];
        for (int64_t j = 0; j < p_.P; ++j) {
          const float* w = v.p1.data() + kRayDiffWidth * j;
          hp[l * p_.P + j] =
              std::max(v.p1b[static_cast<size_t>(j)] + w[0] * r[0] + w[1] * r[1] + w[2] * r[2] + w[3] * r[3], 0.0f);
        }
      }
    }
  }

  /// View transformer l on q; with `field` the layer's semantic field f_l into field_; with `blend` the mean over
  /// channels of its attention into wblend_.
  void view_layer(int64_t l, bool field, bool blend) {
    const GpViewPacked& v = p_.view[static_cast<size_t>(l)];
    const int64_t rows = V_ * nb_, W = p_.W, A = p_.A, LP = p_.L * p_.P, ao = p_.attention_offset(l),
                  vo = p_.value_offset(l);
    gp_norm_rows(q_.data(), Wp_, nb_, W, v.norm_w.data(), v.norm_b.data(), xn_.data(), Wp_);
    for (int64_t i = 0; i < nb_; ++i)
      for (int64_t a = 0; a < A; ++a)
        aq_[static_cast<size_t>(i * A + a)] = detail::dot(W, v.aq.data() + a * W, xn_.data() + i * Wp_);
#ifdef SEMFIELD_SIMD_LANES
    // The default width (W 32, so A = P = W / 8 = 4) with the hidden widths fixed at compile time: unrolled, the
    // accumulators stay in registers (with run-time bounds GCC kept them on the stack, a store-to-load chain through
    // every view: the render's largest hot spot).
    if (W == 32 && p_.A == 4 && p_.P == 4 && (!field || p_.D == W || p_.D == 2 * W)) {
      if (field && p_.D == 2 * W)
        view_attention_registers<32 / detail::Lanes::kN, 2, 4, 4>(v, l, field, blend);
      else
        view_attention_registers<32 / detail::Lanes::kN, 1, 4, 4>(v, l, field, blend);
      if (blend) learned_blend();
      finish_view_layer(v);
      return;
    }
#endif
    for (int64_t u = 0; u < V_; ++u)
      for (int64_t i = 0; i < nb_; ++i) {
        const int64_t row = u * nb_ + i;
        const float* hp = hp_.data() + row * LP + l * p_.P;
        const float* term = big_.data() + row * bigp_ + ao;
        const float* aq = aq_.data() + i * A;
        float* hl = hl_.data() + row * A;
        for (int64_t a = 0; a < A; ++a) {
          float s = term[a] - aq[a];
          for (int64_t j = 0; j < p_.P; ++j) s += v.ap[static_cast<size_t>(a * p_.P + j)] * hp[j];
          hl[a] = std::max(s, 0.0f);
        }
      }
    apply_layer(v.a2, hl_.data(), A, rows, att_.data(), Wp_, false);              // logits
    if (blend)
      for (int64_t row = 0; row < rows; ++row) keep_blend_input(row, att_.data() + row * Wp_);
    apply_layer(v.p2, hp_.data() + l * p_.P, LP, rows, pos_.data(), Wp_, false);  // pos_fc(p)
    const int64_t rep = field ? p_.D / W : 1;
    for (int64_t i = 0; i < nb_; ++i) {
      float* agg = agg_.data() + i * Wp_;
      std::fill(agg, agg + W, 0.0f);
      float* f = field ? field_.data() + i * p_.D : nullptr;
      if (f != nullptr) std::fill(f, f + p_.D, 0.0f);
      if (!seen_[static_cast<size_t>(i)]) {  // no view sees the sample: no attention, nothing pooled
        for (int64_t u = 0; u < V_; ++u) {
          std::fill(att_.data() + (u * nb_ + i) * Wp_, att_.data() + (u * nb_ + i) * Wp_ + W, 0.0f);
          if (blend) wblend_[static_cast<size_t>(u * nb_ + i)] = 0.0f;
        }
        continue;
      }
      // Softmax over the valid views, per channel.
      float* top = tmp_.data() + i * Wp_;
      std::fill(top, top + W, -std::numeric_limits<float>::infinity());
      for (int64_t u = 0; u < V_; ++u) {
        if (!valid_[static_cast<size_t>(u * nb_ + i)]) continue;
        const float* lg = att_.data() + (u * nb_ + i) * Wp_;
        for (int64_t c = 0; c < W; ++c) top[c] = std::max(top[c], lg[c]);
      }
      float* sum = xn_.data() + i * Wp_;  // the LayerNorm's output is read above: free to reuse
      std::fill(sum, sum + W, 0.0f);
      for (int64_t u = 0; u < V_; ++u) {
        float* a = att_.data() + (u * nb_ + i) * Wp_;
        if (!valid_[static_cast<size_t>(u * nb_ + i)]) {
          std::fill(a, a + W, 0.0f);
          continue;
        }
        for (int64_t c = 0; c < W; ++c) a[c] -= top[c];
        detail::exp_inplace(W, a);
        for (int64_t c = 0; c < W; ++c) sum[c] += a[c];
      }
      for (int64_t c = 0; c < W; ++c) sum[c] = 1.0f / sum[c];
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        if (!valid_[static_cast<size_t>(row)]) {
          if (blend) wblend_[static_cast<size_t>(row)] = 0.0f;
          continue;
        }
        float* a = att_.data() + row * Wp_;
        const float* val = big_.data() + row * bigp_ + vo;
        const float* ps = pos_.data() + row * Wp_;
        for (int64_t c = 0; c < W; ++c) {
          a[c] *= sum[c];
          agg[c] += a[c] * (val[c] + ps[c]);
        }
        if (blend) wblend_[static_cast<size_t>(row)] = detail::sum_of(W, a) / static_cast<float>(W);
        if (f != nullptr) {
          // Eq. 5: each attention channel covers rep consecutive semantic channels.
          gp_pool_semantics(a, sem_.data() + row * p_.D, W, rep, expanded_.data(), f);
        }
      }
    }
    if (blend) learned_blend();
    finish_view_layer(v);
  }

  /// With learned blend weights: row's attention logits (W) and ray difference (4), the input of the blend MLP.
  void keep_blend_input(int64_t row, const float* logits) {
    if (p_.blend_mlp.empty()) return;
    const int64_t W = p_.W, bi = padded16(W + kRayDiffWidth);
    float* in = blend_in_.data() + row * bi;
    std::copy(logits, logits + W, in);
    std::copy(rd_.data() + kRayDiffWidth * row, rd_.data() + kRayDiffWidth * (row + 1), in + W);
  }

  /// With learned blend weights: wblend_ (the attention's mean over channels, 0 for invalid views) times exp(m_v)
  /// and renormalised over the views, m = the blend MLP of the inputs kept by keep_blend_input.
  void learned_blend() {
    if (p_.blend_mlp.empty()) return;
    const int64_t rows = V_ * nb_, bi = padded16(p_.W + kRayDiffWidth);
    run_net(p_.blend_mlp, blend_in_.data(), bi, rows, blend_m_.data(), 1, false, s0_.data(), s1_.data());
    for (int64_t i = 0; i < nb_; ++i) {
      float top = -std::numeric_limits<float>::infinity();
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        if (wblend_[static_cast<size_t>(row)] > 0.0f) top = std::max(top, blend_m_[static_cast<size_t>(row)]);
      }
      if (!(top > -std::numeric_limits<float>::infinity())) continue;  // no view weighs: nothing to renormalise
      float sum = 0.0f;
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        float& w = wblend_[static_cast<size_t>(row)];
        if (w > 0.0f) w *= std::exp(blend_m_[static_cast<size_t>(row)] - top);
        sum += w;
      }
      const float inv = 1.0f / sum;
      for (int64_t u = 0; u < V_; ++u) wblend_[static_cast<size_t>(u * nb_ + i)] *= inv;
    }
  }

  /// q += out_fc(agg); q += ff(LN(q)).
  void finish_view_layer(const GpViewPacked& v) {
    apply_layer(v.out_fc, agg_.data(), Wp_, nb_, tmp_.data(), Wp_, false);
    add_rows(tmp_.data());
    gp_norm_rows(q_.data(), Wp_, nb_, p_.W, v.ff_norm_w.data(), v.ff_norm_b.data(), xn_.data(), Wp_);
    run_net(v.ff, xn_.data(), Wp_, nb_, tmp_.data(), Wp_, false, s0_.data(), s1_.data());
    add_rows(tmp_.data());
  }

#ifdef SEMFIELD_SIMD_LANES
  /// view_layer's attention for W = kN NC (kN the vector's lanes: 16 with AVX-512, 8 with AVX2): per sample, the
  /// views' hidden attention terms, logits, softmax over the views, positions, the pooled values agg_ (and the field_
  /// of D = W or 2W channels, and wblend_) with the per-sample vectors in registers and each view's logits and
  /// positions formed where they are used (the generic path makes [V x nb, W] passes for each). The same arithmetic up
  /// to the order of float additions. REP: semantic channels per attention channel (D = REP W); A, P: the attention's
  /// and positions' hidden widths (the weights').
  template <int NC, int REP, int A, int P>
  void view_attention_registers(const GpViewPacked& v, int64_t l, bool field, bool blend) {
    using L = detail::Lanes;
    using V = L::V;
    constexpr int N = L::kN;
    constexpr int64_t W = N * NC;
    static_assert(A <= 16, "the hidden attention terms are kept in a 16-float array");
    const int64_t LP = p_.L * p_.P, ao = p_.attention_offset(l), vo = p_.value_offset(l);
    const float* A2 = v.a2.wt.data();  // [A, W]: column a of attn_fc's second layer
    const float* P2 = v.p2.wt.data();  // [P, W]
    V a2b[NC], p2b[NC];
    for (int c = 0; c < NC; ++c) {
      a2b[c] = L::load(v.a2.bias.data() + N * c);
      p2b[c] = L::load(v.p2.bias.data() + N * c);
    }
    const float inv_w = 1.0f / static_cast<float>(W);
    float hl[16];
    for (int64_t i = 0; i < nb_; ++i) {
      float* agg = agg_.data() + i * Wp_;
      float* f = field ? field_.data() + i * p_.D : nullptr;
      if (!seen_[static_cast<size_t>(i)]) {  // no view sees the sample: nothing pooled
        std::fill(agg, agg + W, 0.0f);
        if (f != nullptr) std::fill(f, f + p_.D, 0.0f);
        if (blend)
          for (int64_t u = 0; u < V_; ++u) wblend_[static_cast<size_t>(u * nb_ + i)] = 0.0f;
        continue;
      }
      const float* aq = aq_.data() + i * A;
      // Logits of the valid views (kept in att_) and their maximum per channel.
      V top[NC];
      for (int c = 0; c < NC; ++c) top[c] = L::set1(-INFINITY);
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        if (!valid_[static_cast<size_t>(row)]) continue;
        const float* hp = hp_.data() + row * LP + l * P;
        const float* term = big_.data() + row * bigp_ + ao;
        for (int64_t a = 0; a < A; ++a) {
          float t = term[a] - aq[a];
          for (int64_t j = 0; j < P; ++j) t += v.ap[static_cast<size_t>(a * P + j)] * hp[j];
          hl[a] = std::max(t, 0.0f);
        }
        float* lg = att_.data() + row * Wp_;
        for (int c = 0; c < NC; ++c) {
          V x = a2b[c];
          for (int64_t a = 0; a < A; ++a) x = L::fmadd(L::set1(hl[a]), L::load(A2 + a * W + N * c), x);
          L::store(lg + N * c, x);
          top[c] = L::max(top[c], x);
        }
        if (blend) keep_blend_input(row, lg);
      }
      // Softmax numerators and their sums.
      V sum[NC];
      for (int c = 0; c < NC; ++c) sum[c] = L::zero();
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        if (!valid_[static_cast<size_t>(row)]) continue;
        float* lg = att_.data() + row * Wp_;
        for (int c = 0; c < NC; ++c) {
          const V e = L::exp(L::sub(L::load(lg + N * c), top[c]));
          L::store(lg + N * c, e);
          sum[c] = L::add(sum[c], e);
        }
      }
      V inv[NC], ag[NC], fs[REP * NC];
      for (int c = 0; c < NC; ++c) {
        inv[c] = L::div(L::set1(1.0f), sum[c]);
        ag[c] = L::zero();
      }
      for (int c = 0; c < REP * NC; ++c) fs[c] = L::zero();
      // Attention, positions, pooled values and semantics.
      for (int64_t u = 0; u < V_; ++u) {
        const int64_t row = u * nb_ + i;
        if (!valid_[static_cast<size_t>(row)]) {
          if (blend) wblend_[static_cast<size_t>(row)] = 0.0f;
          continue;
        }
        const float* hp = hp_.data() + row * LP + l * P;
        const float* lg = att_.data() + row * Wp_;
        const float* val = big_.data() + row * bigp_ + vo;
        const float* sem = f != nullptr ? sem_.data() + row * p_.D : nullptr;
        V total = L::zero();
        for (int c = 0; c < NC; ++c) {
          const V a = L::mul(L::load(lg + N * c), inv[c]);
          V pos = p2b[c];
          for (int64_t j = 0; j < P; ++j) pos = L::fmadd(L::set1(hp[j]), L::load(P2 + j * W + N * c), pos);
          ag[c] = L::fmadd(a, L::add(L::load(val + N * c), pos), ag[c]);
          if (sem != nullptr) {
            if constexpr (REP == 2) {
              L::fma_pairs(a, sem + 2 * N * c, fs[2 * c], fs[2 * c + 1]);
            } else {
              fs[c] = L::fmadd(a, L::load(sem + N * c), fs[c]);
            }
          }
          total = L::add(total, a);
        }
        if (blend) wblend_[static_cast<size_t>(row)] = L::hsum(total) * inv_w;
      }
      for (int c = 0; c < NC; ++c) L::store(agg + N * c, ag[c]);
      if (f != nullptr)
        for (int c = 0; c < REP * NC; ++c) L::store(f + N * c, fs[c]);
    }
  }
#endif

  /// The point head on q: density (0 where unseen) and colour of sample i into sigma[i], rgb[3 i].
  void point_head(float* sigma, float* rgb) {
    run_net(p_.point, q_.data(), Wp_, nb_, head_.data(), 16, false, s0_.data(), s1_.data());
    for (int64_t i = 0; i < nb_; ++i) {
      const float* h = head_.data() + i * 16;
      sigma[i] = seen_[static_cast<size_t>(i)] ? softplus(h[0]) : 0.0f;
      for (int k = 0; k < 3; ++k) rgb[3 * i + k] = gp_sigmoid(h[1 + k]);
    }
  }

  /// q = position MLP([q, encoding]) (encoding rows enc[i * E]).
  void position(int64_t l, const float* enc) {
    const int64_t W = p_.W, E = p_.E;
    for (int64_t i = 0; i < nb_; ++i) {
      std::copy(q_.data() + i * Wp_, q_.data() + i * Wp_ + W, qe_.data() + i * (W + E));
      std::copy(enc + i * E, enc + (i + 1) * E, qe_.data() + i * (W + E) + W);
    }
    run_net(p_.position[static_cast<size_t>(l / 2)], qe_.data(), W + E, nb_, q_.data(), Wp_, false, s0_.data(),
            s1_.data());
  }

  /// Ray transformer l over the block's nb samples (one ray), adding its rendered semantics' mean over the samples
  /// (Eq. 7 with field_) to semantic[0:D).
  void ray_layer(int64_t l, float* semantic) {
    const GpRayPacked& r = p_.ray[static_cast<size_t>(l)];
    const int64_t S = nb_, W = p_.W, H = p_.heads, dh = W / H, ph = p_.D / H, ld3 = padded16(3 * W);
    const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
    gp_norm_rows(q_.data(), Wp_, S, W, r.norm_w.data(), r.norm_b.data(), xn_.data(), Wp_);
    apply_layer(r.qkv, xn_.data(), Wp_, S, qkv_.data(), ld3, false);
    for (int64_t t = 0; t < Sp_; ++t)
      mask_[static_cast<size_t>(t)] = t >= S ? -1e30f : seen_[static_cast<size_t>(t)] ? 0.0f : kGpMasked;
    for (int64_t h = 0; h < H; ++h) {
      // scores = Q_h K_h^T / sqrt(dh); keys no view sees masked (-1e9, as the reference), padding columns excluded:
      // each row's accumulators start at the mask row (0, -1e9 or -1e30: the GEMM's bias) and add Q_h (K_h /
      // sqrt(dh))^T, whose masked columns are 0, so a masked logit is exactly -1e9.
      for (int64_t j = 0; j < dh; ++j) {
        float* kt = kt_.data() + j * Sp_;
        const float* k = qkv_.data() + W + h * dh + j;
        for (int64_t t = 0; t < S; ++t) kt[t] = seen_[static_cast<size_t>(t)] ? k[t * ld3] * scale : 0.0f;
      }
      detail::gemm(qkv_.data() + h * dh, ld3, 1, S, dh, kt_.data(), Sp_, Sp_, scores_.data(), Sp_, false, false,
                   mask_.data());
      float* abar = abar_.data() + h * Sp_;
      softmax_rows_and_mean(S, abar);
      // mixed[:, head h] = A_h V_h, 16 columns at a time (a narrower head's panel goes through panel_ and only its
      // columns are kept; the panel may read past the head's values into the next columns, or the buffer's slack).
      for (int64_t cs = h * dh; cs < (h + 1) * dh; cs += 16) {
        const int64_t width = std::min<int64_t>(16, (h + 1) * dh - cs);
        float* dst = width == 16 ? mixed_.data() + cs : panel_.data();
        const int64_t ldd = width == 16 ? Wp_ : 16;
        detail::gemm(scores_.data(), Sp_, 1, S, S, qkv_.data() + 2 * W + cs, ld3, 16, dst, ldd, false, false);
        if (width < 16)
          for (int64_t t = 0; t < S; ++t) std::copy(dst + t * 16, dst + t * 16 + width, mixed_.data() + t * Wp_ + cs);
      }
      // Eq. 7's mean over the queries: sum_t abar[t] f_l[t] over the head's semantic channels.
#ifdef SEMFIELD_SIMD_LANES
      if (ph == 16) {  // the default widths (D 64, 4 heads): the head's sum in registers, not through memory
        using L = detail::Lanes;
        constexpr int NR = 16 / L::kN;
        L::V acc[NR];
        for (int k = 0; k < NR; ++k) acc[k] = L::load(semantic + h * ph + k * L::kN);
        for (int64_t t = 0; t < S; ++t) {
          const L::V at = L::set1(abar[t]);
          const float* ft = field_.data() + t * p_.D + h * ph;
          for (int k = 0; k < NR; ++k) acc[k] = L::fmadd(at, L::load(ft + k * L::kN), acc[k]);
        }
        for (int k = 0; k < NR; ++k) L::store(semantic + h * ph + k * L::kN, acc[k]);
        continue;
      }
#endif
      for (int64_t t = 0; t < S; ++t) detail::axpy(ph, abar[t], field_.data() + t * p_.D + h * ph, semantic + h * ph);
    }
    apply_layer(r.out_fc, mixed_.data(), Wp_, S, tmp_.data(), Wp_, false);
    add_rows(tmp_.data());
    gp_norm_rows(q_.data(), Wp_, S, W, r.ff_norm_w.data(), r.ff_norm_b.data(), xn_.data(), Wp_);
    run_net(r.ff, xn_.data(), Wp_, S, tmp_.data(), Wp_, false, s0_.data(), s1_.data());
    add_rows(tmp_.data());
  }

  /// Softmax of scores_'s first S rows (Sp_ wide) in place, and their mean into abar[0:Sp_).
  void softmax_rows_and_mean(int64_t S, float* abar) {
#ifdef SEMFIELD_SIMD_LANES
    // Padded widths of 1-4, 6 or 8 vectors (AVX2: 16-64 samples; AVX-512: 16-64, 96, 128; the render's 16 or 24 and
    // training's 32 among them): a row held in NR vectors (AVX2's 8 x 2 for 64 samples exceed its 16 registers and
    // spill some, still ahead of the scalar loop). Before, the 16-sample render took a scalar softmax per row (3.4 %
    // of a 256x256 view on an AVX2 Zen 3).
    switch (Sp_ / detail::Lanes::kN) {
      case 1: return softmax_rows_and_mean_registers<1>(S, abar);
      case 2: return softmax_rows_and_mean_registers<2>(S, abar);
      case 3: return softmax_rows_and_mean_registers<3>(S, abar);
      case 4: return softmax_rows_and_mean_registers<4>(S, abar);
      case 6: return softmax_rows_and_mean_registers<6>(S, abar);
      case 8: return softmax_rows_and_mean_registers<8>(S, abar);
      default: break;
    }
#endif
    const float inv_s = 1.0f / static_cast<float>(S);
    detail::fill_zero(Sp_, abar);
    for (int64_t s2 = 0; s2 < S; ++s2) {
      float* row = scores_.data() + s2 * Sp_;
      gp_softmax_row(row, Sp_);
      detail::axpy(Sp_, inv_s, row, abar);
    }
  }

#ifdef SEMFIELD_SIMD_LANES
  /// softmax_rows_and_mean for Sp_ = NR kN: each row in NR registers, the mean in as many.
  template <int NR>
  void softmax_rows_and_mean_registers(int64_t S, float* abar) {
    using L = detail::Lanes;
    L::V mean[NR];
    for (int k = 0; k < NR; ++k) mean[k] = L::zero();
    const L::V scale = L::set1(1.0f / static_cast<float>(S));
    for (int64_t s2 = 0; s2 < S; ++s2) {
      float* row = scores_.data() + s2 * Sp_;
      L::V x[NR];
      L::V most = L::set1(-INFINITY);
      for (int k = 0; k < NR; ++k) {
        x[k] = L::load(row + k * L::kN);
        most = L::max(most, x[k]);
      }
      const L::V top = L::set1(L::hmax(most));
      L::V total = L::zero();
      for (int k = 0; k < NR; ++k) {
        x[k] = L::exp(L::sub(x[k], top));
        total = L::add(total, x[k]);
      }
      const L::V inv = L::set1(1.0f / L::hsum(total));
      for (int k = 0; k < NR; ++k) {
        const L::V p = L::mul(x[k], inv);
        L::store(row + k * L::kN, p);
        mean[k] = L::fmadd(p, scale, mean[k]);
      }
    }
    for (int k = 0; k < NR; ++k) L::store(abar + k * L::kN, mean[k]);
  }
#endif

  /// The ray's colour (the block is one ray) into rgb[0:3); with per_sample instead the samples' scores into
  /// score_out[0:S) and their view-pooled colours into rgb_out[0:3S) (rgb unused).
  void colour(float* rgb, float* score_out = nullptr, float* rgb_out = nullptr) {
    const int64_t S = nb_, W = p_.W;
    gp_norm_rows(q_.data(), Wp_, S, W, p_.final_norm_w.data(), p_.final_norm_b.data(), xn_.data(), Wp_);
    if (!p_.blend) {
      float* mean = tmp_.data();
      std::fill(mean, mean + W, 0.0f);
      for (int64_t s = 0; s < S; ++s) detail::axpy(W, 1.0f / static_cast<float>(S), xn_.data() + s * Wp_, mean);
      run_net(p_.rgb, mean, Wp_, 1, head_.data(), 16, false, s0_.data(), s1_.data());
      for (int k = 0; k < 3; ++k) rgb[k] = gp_sigmoid(head_[static_cast<size_t>(k)]);
      return;
    }
    run_net(p_.rgb, xn_.data(), Wp_, S, head_.data(), 16, false, s0_.data(), s1_.data());
    if (p_.per_sample) {
      for (int64_t s = 0; s < S; ++s) {
        score_out[s] = head_[static_cast<size_t>(s * 16)];
        view_pooled_colour(s, rgb_out + 3 * s);
      }
      return;
    }
    float* score = tmp_.data();
    for (int64_t s = 0; s < S; ++s)
      score[s] = seen_[static_cast<size_t>(s)] ? head_[static_cast<size_t>(s * 16)] : kGpMasked;
    gp_softmax_row(score, S);
    float out[3] = {0.0f, 0.0f, 0.0f};
    for (int64_t s = 0; s < S; ++s) {
      float blend[3];
      view_pooled_colour(s, blend);
      for (int k = 0; k < 3; ++k) out[k] += score[s] * blend[k];
    }
    std::copy(out, out + 3, rgb);
  }

  bool seen(int64_t i) const { return seen_[static_cast<size_t>(i)] != 0; }

 private:
  /// Sample s's source colours pooled by the last view attention's mean over channels (wblend_) into blend[0:3).
  void view_pooled_colour(int64_t s, float* blend) const {
    std::fill(blend, blend + 3, 0.0f);
    for (int64_t v = 0; v < V_; ++v) {
      const int64_t row = v * nb_ + s;
      const float w = wblend_[static_cast<size_t>(row)];
      const float* c = x_.data() + row * (p_.C + 3) + p_.C;
      for (int k = 0; k < 3; ++k) blend[k] += w * c[k];
    }
  }

  void add_rows(const float* d) {
    for (int64_t i = 0; i < nb_; ++i) detail::axpy(p_.W, 1.0f, d + i * Wp_, q_.data() + i * Wp_);
  }

  const GpPacked& p_;
  const GpMaps& m_;
  int64_t V_, Wp_, bigp_, Sp_, nb_ = 0;
  std::vector<float> x_, rd_, h_, big_, hp_, hl_, att_, pos_, q_, xn_, agg_, tmp_, s0_, s1_, aq_, head_;
  std::vector<float> sem_, field_, expanded_, mask_, qkv_, qe_, kt_, scores_, panel_, mixed_, abar_, wblend_;
  std::vector<float> blend_in_, blend_m_;  ///< learned blend weights: the MLP's inputs [rows, W + 4 padded], outputs
  std::vector<uint8_t> valid_, seen_;
  detail::ProjectionBlock<kTapChunk> proj_;  // one view's projections of a chunk
  detail::TapBlock<kTapChunk> taps_;          // their taps in one map
};

}  // namespace

GpnerfPointsForward gpnerf_points_forward(const at::Tensor& positions, const at::Tensor& dirs,
                                          const GpnerfSourceMaps& sources, const GpnerfTransformerWeights& weights) {
  detail::check_dtype(kGpOp, "positions", positions, at::kFloat);
  detail::check_dtype(kGpOp, "dirs", dirs, at::kFloat);
  detail::require_cpu(kGpOp, {{"positions", &positions}, {"dirs", &dirs}});
  TORCH_CHECK(positions.dim() == 2 && positions.size(1) == 3 && dirs.sizes() == positions.sizes(), kGpOp,
              ": positions and dirs must both be [N,3], got ", positions.sizes(), " and ", dirs.sizes());
  const GpMaps maps = gp_maps(sources, false);
  const GpPacked packed = gp_pack(weights, 1, sources.rgb.size(3), 0, false);
  const int64_t N = positions.size(0);
  const at::Tensor pos = positions.contiguous(), dir = dirs.contiguous();
  GpnerfPointsForward out;
  out.sigma = at::empty({N}, pos.options());
  out.rgb = at::empty({N, 3}, pos.options());
  const float* pp = pos.data_ptr<float>();
  const float* dp = dir.data_ptr<float>();
  float* sp = out.sigma.data_ptr<float>();
  float* rp = out.rgb.data_ptr<float>();
  const int64_t n_blocks = (N + kGpPointBlock - 1) / kGpPointBlock;
  parallel_for(0, n_blocks, 16, [&](int64_t b0, int64_t b1) {
    GpBlock block(packed, maps, kGpPointBlock, false);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * kGpPointBlock, nb = std::min(kGpPointBlock, N - first);
      block.gather(pp + 3 * first, dp + 3 * first, 3, nb, false);
      block.keys();
      block.view_layer(0, false, false);
      block.point_head(sp + first, rp + 3 * first);
    }
  });
  return out;
}

GpnerfRaysForward gpnerf_rays_forward(const at::Tensor& positions, const at::Tensor& dirs, const at::Tensor& encoding,
                                      const GpnerfSourceMaps& sources, const GpnerfTransformerWeights& weights) {
  for (const auto& [name, t] :
       {std::pair<const char*, const at::Tensor*>{"positions", &positions}, {"dirs", &dirs}, {"encoding", &encoding}})
    detail::check_dtype(kGpOp, name, *t, at::kFloat);
  detail::require_cpu(kGpOp, {{"positions", &positions}, {"dirs", &dirs}, {"encoding", &encoding}});
  detail::check_dim(kGpOp, "positions", positions, 3);
  const int64_t R = positions.size(0), S = positions.size(1);
  TORCH_CHECK(positions.size(2) == 3 && dirs.sizes() == at::IntArrayRef({R, 3}) && encoding.dim() == 3 &&
                  encoding.size(0) == R && encoding.size(1) == S && S > 0,
              kGpOp, ": expected positions [R,S,3], dirs [R,3] and encoding [R,S,E], got ", positions.sizes(), ", ",
              dirs.sizes(), " and ", encoding.sizes());
  const GpMaps maps = gp_maps(sources, true);
  const int64_t D = sources.semantic.size(3), L = static_cast<int64_t>(weights.view.size());
  const GpPacked packed = gp_pack(weights, L, sources.rgb.size(3), D, true);
  TORCH_CHECK(encoding.size(2) == packed.E, kGpOp, ": the position MLPs take ", packed.E, " encoding channels, got ",
              encoding.size(2));
  const at::Tensor pos = positions.contiguous(), dir = dirs.contiguous(), enc = encoding.contiguous();
  GpnerfRaysForward out;
  const auto f = pos.options();
  if (!packed.colour) {
    // The caller colours the rays: rgb, sample_score and sample_rgb stay undefined.
  } else if (packed.per_sample) {
    out.sample_score = at::empty({R, S}, f);
    out.sample_rgb = at::empty({R, S, 3}, f);
  } else {
    out.rgb = at::empty({R, 3}, f);
  }
  out.semantic = at::zeros({R, D}, f);
  out.sigma = at::empty({R, S}, f);
  out.rgb_point = at::empty({R, S, 3}, f);
  out.valid = at::empty({R, S}, f.dtype(at::kBool));
  const float* pp = pos.data_ptr<float>();
  const float* dp = dir.data_ptr<float>();
  const float* ep = enc.data_ptr<float>();
  float* rgb = packed.colour && !packed.per_sample ? out.rgb.data_ptr<float>() : nullptr;
  float* score = packed.colour && packed.per_sample ? out.sample_score.data_ptr<float>() : nullptr;
  float* srgb = packed.colour && packed.per_sample ? out.sample_rgb.data_ptr<float>() : nullptr;
  float* sem = out.semantic.data_ptr<float>();
  float* sig = out.sigma.data_ptr<float>();
  float* rpt = out.rgb_point.data_ptr<float>();
  bool* val = out.valid.data_ptr<bool>();
  parallel_for(0, R, 32, [&](int64_t r0, int64_t r1) {
    GpBlock block(packed, maps, S, true);
    for (int64_t r = r0; r < r1; ++r) {
      block.gather(pp + 3 * S * r, dp + 3 * r, 0, S, true);
      block.keys();
      for (int64_t s = 0; s < S; ++s) val[r * S + s] = block.seen(s);
      for (int64_t l = 0; l < L; ++l) {
        block.view_layer(l, true, packed.colour && l + 1 == L);
        if (l == 0) block.point_head(sig + r * S, rpt + 3 * S * r);
        if (l % 2 == 0) block.position(l, ep + r * S * packed.E);
        block.ray_layer(l, sem + r * D);
      }
      if (!packed.colour) continue;
      if (packed.per_sample)
        block.colour(nullptr, score + r * S, srgb + 3 * S * r);
      else
        block.colour(rgb + 3 * r);
    }
  });
  return out;
}

}  // namespace semfield::kernels
