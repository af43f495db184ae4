// The fused IBR inference kernels' building blocks and misuse errors: the vectorised exp against std::exp, softplus,
// the block softmax against a plain softmax, the block bilinear taps against their one-at-a-time form, and the
// kernels' checks of their inputs. Their results against the LibTorch network are tested in
// tests/unit/models/ibr_model_test.cpp (IbrFused.*), where the network's weights live.
#include "semfield/kernels/ibr_aggregate.h"

#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/kernels/fused_layers.h"
#include "semfield/kernels/layer_precision.h"
#include "semfield/kernels/simd_ops.h"
#include "tap_blocks_cases.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;

TEST(SimdExp, MatchesStdExpOverTheFloatRange) {
  // Every 1/64 from -100 to 88 (a tail of 7 after the 16-lane blocks), plus the masked values softmax uses.
  std::vector<float> x;
  for (int i = -6400; i <= 5632; ++i) x.push_back(static_cast<float>(i) / 64.0f);
  x.push_back(-1e9f);
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(0.0f);
  std::vector<float> y = x;
  detail::exp_inplace(static_cast<int64_t>(y.size()), y.data());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(static_cast<double>(x[i]));
    if (x[i] < -87.3f) {
      EXPECT_EQ(y[i], 0.0f) << x[i];
      continue;
    }
    worst = std::max(worst, std::abs(y[i] - ref) / ref);
    // The scalar twin (tails, builds without AVX-512) agrees to rounding.
    EXPECT_NEAR(detail::exp_approx(x[i]), y[i], 4e-7 * ref) << x[i];
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(y.back(), 1.0f);
}

TEST(SimdSoftplus, MatchesLog1pExp) {
  // Every 1/32 from -100 to 100 (a tail after the 16-lane blocks): softplus = log1p(exp(x)), x itself above ~17.
  std::vector<float> x;
  for (int i = -3200; i <= 3205; ++i) x.push_back(static_cast<float>(i) / 32.0f);
  std::vector<float> y = x, scratch(x.size());
  detail::softplus_inplace(static_cast<int64_t>(y.size()), y.data(), scratch.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::log1p(std::exp(static_cast<double>(x[i])));
    if (x[i] < -87.3f) {
      EXPECT_EQ(y[i], 0.0f) << x[i];  // exp_approx's range: below it the weight is 0 (ref < 1e-37)
      continue;
    }
    EXPECT_NEAR(y[i], ref, 1e-6 * ref + 1e-30) << x[i];
  }
}

TEST(TapBlocks, BilinearTapsOfABlockMatchThePointByPointTaps) { test::check_tap_blocks(); }

TEST(TapBlocks, ProjectionsOfABlockMatchTheScalarLoop) { test::check_projection_blocks(); }

TEST(FusedLayers, BlockSoftmaxMatchesSoftmaxOverValidViews) {
  // 8 views x 29 samples (not a multiple of 16), logits in a strided buffer, views valid at random; sample 0 has no
  // valid view (all weights 0) and sample 1 one (weight 1).
  constexpr int64_t V = 8, nb = 29, stride = 3;
  std::vector<float> logits(static_cast<size_t>(V * nb * stride));
  std::vector<uint8_t> valid(static_cast<size_t>(V * nb));
  uint32_t state = 12345;
  auto next = [&] { return (state = state * 1664525u + 1013904223u) >> 8; };
  for (float& l : logits) l = static_cast<float>(next() % 20000) / 1000.0f - 10.0f;
  for (auto& v : valid) v = next() % 3 != 0;
  for (int64_t v = 0; v < V; ++v) valid[static_cast<size_t>(v * nb)] = 0;
  for (int64_t v = 0; v < V; ++v) valid[static_cast<size_t>(v * nb + 1)] = v == 5;
  std::vector<float> w(static_cast<size_t>(V * nb)), top(static_cast<size_t>(nb));
  detail::masked_softmax_views(logits.data(), stride, valid.data(), V, nb, w.data(), top.data());
  for (int64_t i = 0; i < nb; ++i) {
    // The reference: softmax over the valid views in double precision, 0 elsewhere.
    auto logit = [&](int64_t v) { return static_cast<double>(logits[static_cast<size_t>((v * nb + i) * stride)]); };
    auto ok = [&](int64_t v) { return valid[static_cast<size_t>(v * nb + i)] != 0; };
    double top_i = -1e300, total = 0;
    for (int64_t v = 0; v < V; ++v)
      if (ok(v)) top_i = std::max(top_i, logit(v));
    std::vector<double> ref(static_cast<size_t>(V), 0.0);
    for (int64_t v = 0; v < V; ++v)
      if (ok(v)) total += ref[static_cast<size_t>(v)] = std::exp(logit(v) - top_i);
    for (double& r : ref) r = total > 0 ? r / total : 0.0;
    float sum = 0;
    for (int64_t v = 0; v < V; ++v) {
      EXPECT_NEAR(w[static_cast<size_t>(v * nb + i)], ref[static_cast<size_t>(v)], 1e-6f) << i << " " << v;
      sum += w[static_cast<size_t>(v * nb + i)];
    }
    EXPECT_NEAR(sum, i == 0 ? 0.0f : 1.0f, 1e-5f) << i;
  }
  EXPECT_EQ(w[static_cast<size_t>(5 * nb + 1)], 1.0f);
}

TEST(FusedLayers, Bf16RoundingIsToNearestEven) {
  EXPECT_EQ(detail::round_to_bf16(1.0f), 1.0f);
  EXPECT_EQ(detail::round_to_bf16(-2.5f), -2.5f);
  // bf16 keeps 8 significant bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7, and ties go to the even neighbour (1);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6 (even): up.
  EXPECT_EQ(detail::round_to_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  EXPECT_EQ(detail::round_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(detail::round_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(detail::round_to_bf16(-(1.0f + std::ldexp(1.0f, -9))), -1.0f);
  EXPECT_TRUE(std::isnan(detail::round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(detail::round_to_bf16(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  // LibTorch's float -> bfloat16 conversion agrees on random values.
  const at::Tensor x = at::randn({4096}, at::make_generator<at::CPUGeneratorImpl>(3)) * 50.0f;
  const at::Tensor ref = x.to(at::kBFloat16).to(at::kFloat);
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(detail::round_to_bf16(x[i].item<float>()), ref[i].item<float>()) << x[i].item<float>();
}

TEST(FusedLayers, Bf16LayersEqualFloatLayersOfBf16RoundedInputsAndWeights) {
  // Widths that exercise every path: odd inputs (a padded last pair), one input, inputs past one 32-float conversion
  // block and 16-float tails, panels of 1-4 x 16 columns, more than one 64-column panel, last columns (out % 16) that
  // stay float, and a layer of fewer than 16 outputs (no tile at all);
  // rows not a multiple of the 6- and 8-row tiles, read from a strided buffer.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{
           {19, 32}, {1, 16}, {32, 176}, {33, 48}, {64, 64}, {7, 20}, {70, 100}, {16, 32}, {48, 16}, {5, 3}}) {
    const int64_t rows = 23, lda = in + 5, ldc = detail::padded16(out) + 16;
    const at::Tensor w = at::randn({out, in}, gen), b = at::randn({out}, gen);
    const at::Tensor a = at::randn({rows, lda}, gen);
    detail::Layer fp32;
    detail::Layer bf16;
    {
      ScopedLayerPrecision scoped(Precision::Float32);
      fp32 = detail::pack_layer("test", "w", w, &b);
    }
    {
      ScopedLayerPrecision scoped(Precision::BFloat16);
      bf16 = detail::pack_layer("test", "w", w, &b);
    }
    EXPECT_FALSE(fp32.bf16);
    ASSERT_TRUE(bf16.bf16);
    for (const bool relu : {false, true}) {
      std::vector<float> c32(static_cast<size_t>(rows * ldc), -7.0f), c16(c32);
      detail::apply_layer(fp32, a.data_ptr<float>(), lda, rows, c32.data(), ldc, relu);
      detail::apply_layer(bf16, a.data_ptr<float>(), lda, rows, c16.data(), ldc, relu);
      const at::Tensor x = a.narrow(1, 0, in);
      auto rounded = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kDouble); };
      // The reference in double: tiles of bf16-rounded inputs and weights; the last out % 16 columns in float.
      const int64_t full = out / 16 * 16;
      at::Tensor ref = x.to(at::kDouble).mm(w.to(at::kDouble).t()) + b.to(at::kDouble);
      if (full > 0)
        ref.narrow(1, 0, full).copy_(rounded(x).mm(rounded(w.narrow(0, 0, full)).t()) + b.narrow(0, 0, full).to(at::kDouble));
      if (relu) ref = ref.clamp_min(0);
      const at::Tensor plain = x.to(at::kDouble).mm(w.to(at::kDouble).t()) + b.to(at::kDouble);
      double bf16_vs_float = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < ldc; ++j) {
          const float v16 = c16[static_cast<size_t>(r * ldc + j)], v32 = c32[static_cast<size_t>(r * ldc + j)];
          if (j >= out) {  // nothing written past the layer's columns
            ASSERT_EQ(v16, -7.0f);
            continue;
          }
          const double want = ref[r][j].item<double>();
          ASSERT_NEAR(v16, want, 1e-5 * (1 + std::abs(want))) << in << " -> " << out << " row " << r << " col " << j;
          const double want32 = relu ? std::max(plain[r][j].item<double>(), 0.0) : plain[r][j].item<double>();
          ASSERT_NEAR(v32, want32, 1e-5 * (1 + std::abs(want32)));
          if (j < full) {
            bf16_vs_float = std::max(bf16_vs_float, std::abs(double(v16) - double(v32)));
          } else {
            ASSERT_EQ(v16, v32);  // the last columns stay float
          }
        }
      // The tiles really are rounded (unit inputs over ~in terms: differences of order 2^-8 sqrt(in)).
      if (full > 0) {
        EXPECT_GT(bf16_vs_float, 1e-4) << in << " -> " << out;
      }
    }
  }
}

TEST(FusedLayers, BlockBilinearTapsMatchOnePointAtATime) {
  // A 7 x 5 map of 3 channels covering a 28 x 20 image; points inside, on the borders, just outside (partial taps),
  // far outside, NaN, and 45 points (two full blocks of 16 and a tail).
  std::vector<float> data(7 * 5 * 3, 1.0f);
  const detail::MapView m{data.data(), 7, 5, 3, 28.0f, 20.0f};
  std::vector<float> u, v;
  const float special[][2] = {{0.0f, 0.0f}, {28.0f, 20.0f}, {-1.0f, 3.0f}, {29.5f, 10.0f}, {14.0f, -3.9f},
                              {1e6f, 5.0f}, {-1e6f, -1e6f}, {std::nanf(""), 4.0f}, {13.99f, 7.01f}};
  for (const auto& p : special) {
    u.push_back(p[0]);
    v.push_back(p[1]);
  }
  for (int i = 0; static_cast<int>(u.size()) < 45; ++i) {
    u.push_back(-4.0f + 0.77f * static_cast<float>(i));
    v.push_back(-3.0f + 0.61f * static_cast<float>(i));
  }
  constexpr int kMax = 48;
  int64_t offset[4][kMax];
  float weight[4][kMax];
  detail::bilinear_taps_block<kMax>(m, u.data(), v.data(), static_cast<int64_t>(u.size()), offset, weight);
  for (size_t i = 0; i < u.size(); ++i) {
    const detail::Taps t = detail::bilinear_taps(m, u[i], v[i]);
    float total = 0;
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(weight[k][i], t.weight[k], 1e-5f) << u[i] << ", " << v[i] << " tap " << k;
      if (t.weight[k] > 1e-5f || weight[k][i] > 1e-5f) {
        EXPECT_EQ(offset[k][i], t.offset[k]) << u[i] << ", " << v[i];
      }
      EXPECT_GE(offset[k][i], 0);
      EXPECT_LT(offset[k][i], static_cast<int64_t>(data.size()));
      total += weight[k][i];
    }
    if (i == 8) {
      EXPECT_NEAR(total, 1.0f, 1e-5f);  // well inside: the four taps sum to 1
    }
  }
  for (int k = 0; k < 4; ++k) EXPECT_EQ(weight[k][7], 0.0f);  // NaN: no taps
}

TEST(FusedLayers, BilinearTapsOnTheFarEdgeStayInTheMap) {
  // An 8 x 4 map covering an 8 x 4 image: u = 8.5 gives x = 8 = w exactly (and v = 4.5 y = 4 = h), which counts as
  // inside; its taps at column / row 8 lie outside the map: weight 0, no offset past it (they read the next row, or
  // past the last one, before the fix).
  std::vector<float> data(8 * 4 * 3, 1.0f);
  const detail::MapView m{data.data(), 8, 4, 3, 8.0f, 4.0f};
  const float u[3] = {8.5f, 3.0f, 8.5f}, v[3] = {2.0f, 4.5f, 4.5f};
  int64_t offset[4][16];
  float weight[4][16];
  detail::bilinear_taps_block<16>(m, u, v, 3, offset, weight);
  for (int i = 0; i < 3; ++i) {
    const detail::Taps t = detail::bilinear_taps(m, u[i], v[i]);
    for (int k = 0; k < 4; ++k) {
      EXPECT_EQ(t.weight[k], 0.0f) << i << " tap " << k;
      EXPECT_EQ(weight[k][i], 0.0f) << i << " tap " << k;
      EXPECT_LT(offset[k][i], static_cast<int64_t>(data.size()));
    }
  }
}


TEST(FusedLayers, ProjectBlockAndTapBlockMatchTheirDefinitions) {
  // A camera at (0, 0, -4) looking down +z (world-to-camera = a shift), f = 10, centre (8, 6), image 16 x 12; points
  // with a direction stride of 4 (GP-NeRF's layout): in front and inside, behind, in front but outside the image.
  const float P[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 4};
  const float K[4] = {10, 10, 8, 6}, o[3] = {0, 0, -4};
  const float pts[9] = {0.4f, -0.2f, 0.0f, 0.0f, 0.0f, -5.0f, 4.0f, 0.0f, 0.0f};
  const float dirs[12] = {0, 0, 1, 9, 0.6f, 0, 0.8f, 9, 1, 0, 0, 9};
  detail::ProjectionBlock<16> proj;
  detail::project_block(P, K, o, 16.0f, 12.0f, pts, dirs, 4, 3, proj);
  EXPECT_NEAR(proj.u[0], 10 * 0.4f / 4 + 8, 1e-5f);
  EXPECT_NEAR(proj.v[0], 10 * -0.2f / 4 + 6, 1e-5f);
  EXPECT_EQ(proj.ok[0], 1);
  EXPECT_EQ(proj.ok[1], 0);  // behind the camera
  EXPECT_EQ(proj.ok[2], 0);  // u = 18 > 16: outside the image
  EXPECT_NEAR(proj.u[2], 10 * 4.0f / 4 + 8, 1e-5f);
  const float len0 = std::sqrt(0.4f * 0.4f + 0.2f * 0.2f + 16.0f);
  EXPECT_NEAR(proj.dist[0], len0, 1e-5f);
  const float s0[3] = {0.4f / len0, -0.2f / len0, 4.0f / len0};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(proj.src[k][0], s0[k], 1e-6f);
    EXPECT_NEAR(proj.rd[k][0], dirs[k] - s0[k], 1e-6f);
  }
  EXPECT_NEAR(proj.rd[3][0], s0[2], 1e-6f);                    // cosine with (0, 0, 1)
  EXPECT_NEAR(proj.rd[3][1], 0.6f * 0 + 0.8f * -1.0f, 1e-6f);  // point 1: source direction (0, 0, -1)
  // The taps of the projections in a 4 x 3 map over the image and the gathers they drive: bilinear_taps, sample_taps;
  // channel counts of the generic loop (2) and of the specialised ones (3, 16).
  for (const int64_t C : {int64_t{2}, int64_t{3}, int64_t{16}}) {
    std::vector<float> data(static_cast<size_t>(4 * 3 * C));
    for (size_t i = 0; i < data.size(); ++i) data[i] = 0.5f * static_cast<float>(i) - 3.0f;
    const detail::MapView m{data.data(), 4, 3, C, 16.0f, 12.0f};
    detail::TapBlock<16> taps;
    taps.compute(m, proj.u, proj.v, 3);
    const int64_t stride = C + 3;
    std::vector<float> out(static_cast<size_t>(3 * stride), -99.0f);
    taps.gather(m, 3, out.data(), stride);
    for (int64_t i = 0; i < 3; ++i) {
      // The taps' weighted sum written out here (gather and sample_taps share sample_taps_fixed: checking one
      // against the other could not fail).
      const detail::Taps t = detail::bilinear_taps(m, proj.u[i], proj.v[i]);
      std::vector<float> want(static_cast<size_t>(C), 0.0f), single(static_cast<size_t>(C));
      for (int k = 0; k < 4; ++k)
        for (int64_t c = 0; c < C; ++c)
          want[static_cast<size_t>(c)] += t.weight[k] * data[static_cast<size_t>(t.offset[k] + c)];
      detail::sample_taps(m, t, single.data());
      for (int64_t c = 0; c < C; ++c) {
        EXPECT_NEAR(out[static_cast<size_t>(stride * i + c)], want[c], 1e-5f) << C << " " << i;
        EXPECT_NEAR(single[static_cast<size_t>(c)], want[c], 1e-5f) << C << " " << i;
      }
      for (int64_t c = C; c < stride; ++c)
        EXPECT_EQ(out[static_cast<size_t>(stride * i + c)], -99.0f);  // the stride's gap is left alone
    }
  }
}
TEST(IbrFusedKernels, ClearErrorsOnMisuse) {
  SourceCameraBatch cams;
  cams.w2c = at::zeros({2, 3, 4});
  cams.intrinsics = at::ones({2, 4});
  cams.sizes = at::full({2, 2}, 8.0f);
  cams.origins = at::zeros({2, 3});
  IbrPointWeights w;
  const at::Tensor pts = at::zeros({5, 3});
  try {
    ibr_points_forward(pts, at::zeros({4, 3}), cams, at::zeros({2, 8, 8, 3}), at::zeros({2, 2, 2, 4}), w);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[N,3]"));
  }
  try {
    ibr_points_forward(pts, pts, cams, at::zeros({2, 8, 8, 3}), at::zeros({2, 2, 2, 4}), w);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("view has no layers"));
  }
  IbrRayWeights rw;
  try {
    ibr_ray_density_forward(at::zeros({3, 4, 8}), at::zeros({3, 5}), at::zeros({3, 4}, at::kBool), rw);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("t_rel and valid"));
  }
}

}  // namespace
}  // namespace semfield::kernels
