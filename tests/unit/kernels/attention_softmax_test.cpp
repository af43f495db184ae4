// The fused attention softmax (scale, mask, SAM's decomposed relative positions) and the fused residual +
// LayerNorm against their LibTorch references; the vector exp against std::exp; the attention built on them
// against the op-by-op reference, chunked and unchunked; misuse errors; the channel-vector loops of simd_ops.h. Inference-only kernels: no backward.
#include "semfield/kernels/attention_softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "simd_ops_cases.h"
#include "semfield/core/error.h"
#include "semfield/foundation/transformer_ops.h"
#include "semfield/kernels/simd_ops.h"

namespace semfield::kernels {
namespace {

using ::testing::HasSubstr;

TEST(ExpInplace, MatchesStdExpAcrossTheRange) { test::check_exp_inplace(); }

// The channel-vector loops as this build compiled them (tests/simd/ checks the AVX2 path on any x86-64 machine).
TEST(SimdOps, ChannelLoopsMatchDoubleLoopsAtEveryLengthAndTail) { test::check_channel_loops(); }

TEST(SimdOps, LanesMatchScalarArithmetic) {
#ifdef SEMFIELD_SIMD_LANES
  test::check_lanes();
#else
  GTEST_SKIP() << "this build has no vector lanes (neither AVX-512 nor AVX2 + FMA): the kernels take their scalar "
                  "paths";
#endif
}

TEST(BiasedSoftmaxRows, MatchesReferenceWithEveryTerm) {
  at::manual_seed(11);
  for (const int64_t h : {1, 5, 14, 17}) {
    const int64_t w = h + 3, n = h * w, b = 3, nq = 9;
    for (const bool with_mask : {false, true}) {
      for (const bool with_rel : {false, true}) {
        for (const int64_t row0 : {0, 4}) {
          const int64_t r = nq - row0;
          const at::Tensor logits = at::randn({b, r, n}) * 4;
          at::Tensor mask, rel_h, rel_w;
          if (with_mask) mask = at::randn({nq, n}).masked_fill_(at::rand({nq, n}) < 0.2, -INFINITY).index_fill_(1, at::zeros({1}, at::kLong), 0.0);
          if (with_rel) {
            rel_h = at::randn({b, nq, h});
            rel_w = at::randn({b, nq, w});
          }
          at::Tensor fused = logits.clone(), ref = logits.clone();
          biased_softmax_rows_(fused, 0.37, mask, rel_h, rel_w, row0);
          biased_softmax_rows_reference_(ref, 0.37, mask, rel_h, rel_w, row0);
          test::expect_close(fused, ref, 2e-6, 1e-7,
                             "H " + std::to_string(h) + " mask " + std::to_string(with_mask) + " rel " +
                                 std::to_string(with_rel) + " row0 " + std::to_string(row0));
          EXPECT_TRUE(at::allclose(fused.sum(-1), at::ones({b, r}), 1e-5, 1e-5));
        }
      }
    }
  }
}

TEST(BiasedSoftmaxRows, Errors) {
  at::Tensor logits = at::randn({2, 3, 12});
  EXPECT_THAT([&] { biased_softmax_rows_(logits, 1.0, {}, at::randn({2, 3, 3}), {}, 0); },
              testing::ThrowsMessage<c10::Error>(HasSubstr("together")));
  EXPECT_THAT([&] { biased_softmax_rows_(logits, 1.0, {}, at::randn({2, 3, 3}), at::randn({2, 3, 5}), 0); },
              testing::ThrowsMessage<c10::Error>(HasSubstr("H * W = N")));
  EXPECT_THAT([&] { biased_softmax_rows_(logits, 1.0, at::randn({2, 12}), {}, {}, 1); },
              testing::ThrowsMessage<c10::Error>(HasSubstr("rows")));
  at::Tensor strided = at::randn({2, 12, 3}).transpose(1, 2);
  EXPECT_THAT([&] { biased_softmax_rows_(strided, 1.0, {}, {}, {}, 0); },
              testing::ThrowsMessage<c10::Error>(HasSubstr("contiguous")));
}

TEST(AddLayerNorm, MatchesReference) {
  at::manual_seed(12);
  for (const int64_t c : {7, 16, 96, 768, 771}) {  // (C = 1 is degenerate: ATen's x * rstd - mean * rstd cancels)
    const at::Tensor x = at::randn({5, 13, c}) * 3 + 1, y = at::randn({5, 13, c});
    const at::Tensor w = at::randn({c}), bias = at::randn({c});
    const auto [out, normed] = add_layer_norm(x, y, w, bias, 1e-6);
    const auto [out_ref, normed_ref] = add_layer_norm_reference(x, y, w, bias, 1e-6);
    EXPECT_TRUE(at::equal(out, out_ref)) << c;
    test::expect_close(normed, normed_ref, 2e-5, 2e-5, "C " + std::to_string(c));
  }
  // A strided input (SAM's patch embedding is a permuted view) gives the same result.
  const at::Tensor x = at::randn({2, 8, 5, 5}).permute({0, 2, 3, 1}), y = at::randn({2, 5, 5, 8});
  const at::Tensor w = at::randn({8}), bias = at::randn({8});
  test::expect_close(add_layer_norm(x, y, w, bias, 1e-5).second, add_layer_norm_reference(x, y, w, bias, 1e-5).second,
                     2e-5, 2e-5, "strided");
  EXPECT_THAT([&] { add_layer_norm(x, y.narrow(1, 0, 4), w, bias, 1e-5); },
              testing::ThrowsMessage<c10::Error>(HasSubstr("differ in shape")));
}

TEST(FusedAttention, MatchesTheReferenceInEveryMode) {
  using namespace semfield::foundation;
  at::manual_seed(13);
  const int64_t bh = 6, h = 9, w = 7, nk = h * w, d = 16;
  const at::Tensor q = at::randn({bh, nk, d}), k = at::randn({bh, nk, d}), v = at::randn({bh, nk, d + 3});
  for (const ScaleMode mode :
       {ScaleMode::MultiplyQuery, ScaleMode::DivideQuery, ScaleMode::MultiplyLogits, ScaleMode::DivideLogits}) {
    AttentionOptions options;
    options.scale_mode = mode;
    options.scale = mode == ScaleMode::MultiplyQuery || mode == ScaleMode::MultiplyLogits ? 0.25 : 4.0;
    options.rel_h = at::randn({bh, nk, h});
    options.rel_w = at::randn({bh, nk, w});
    options.mask = at::full({nk, nk}, -INFINITY).triu_(1);
    at::Tensor p_fused, p_ref;
    options.probabilities = &p_fused;
    const at::Tensor fused = scaled_dot_product_attention(q, k, v, options);
    options.probabilities = &p_ref;
    const at::Tensor ref = scaled_dot_product_attention_reference(q, k, v, options);
    test::expect_close(fused, ref, 1e-5, 1e-5, "mode " + std::to_string(static_cast<int>(mode)));
    test::expect_close(p_fused, p_ref, 1e-5, 1e-6, "probabilities");
  }
}

TEST(FusedAttention, ChunkedRowsMatchOneChunk) {
  using namespace semfield::foundation;
  // 16 heads x 4096 keys take 256 KB of logits per query row, so the 128 MB budget splits the 4096 rows into
  // 8 chunks of 512.
  at::manual_seed(14);
  const int64_t bh = 16, n = 4096, d = 8;
  const at::Tensor q = at::randn({bh, n, d}), k = at::randn({bh, n, d}), v = at::randn({bh, n, d});
  AttentionOptions options;
  options.scale = 0.35;
  options.rel_h = at::randn({bh, n, 64});
  options.rel_w = at::randn({bh, n, 64});
  const at::Tensor fused = scaled_dot_product_attention(q, k, v, options);
  const at::Tensor ref = scaled_dot_product_attention_reference(q, k, v, options);
  test::expect_close(fused, ref, 1e-5, 1e-5, "chunked");
}

TEST(FoundationPrecision, Bf16LinearCachesItsWeightCopyAndSeesRewrites) {
  using namespace semfield::foundation;
  at::manual_seed(15);
  const at::Tensor x = at::randn({33, 64});
  at::Tensor weight = at::randn({48, 64}), bias = at::randn({48});
  const at::Tensor exact = at::linear(x, weight, bias);
  set_foundation_precision(Precision::BFloat16);
  const at::Tensor low = linear(x, weight, bias);
  EXPECT_EQ(low.scalar_type(), at::kFloat);
  // bf16 keeps 8 significant bits: the products of 64 terms land within ~1 % of the output range.
  const double range = exact.abs().max().item<double>();
  EXPECT_LT((low - exact).abs().max().item<double>(), 0.02 * range);
  EXPECT_GT((low - exact).abs().max().item<double>(), 0.0);
  weight.mul_(2.0);  // rewritten in place (as bind() does): the cached copy must not be reused
  const at::Tensor doubled = linear(x, weight, bias);
  set_foundation_precision(Precision::Float32);
  EXPECT_LT((doubled - at::linear(x, weight, bias)).abs().max().item<double>(), 0.04 * range);
  EXPECT_TRUE(at::equal(linear(x, weight, bias), at::linear(x, weight, bias)));
  EXPECT_EQ(parse_precision("bf16"), Precision::BFloat16);
  EXPECT_EQ(parse_precision("fp32"), Precision::Float32);
  EXPECT_THROW(parse_precision("fp16"), UsageError);
}

}  // namespace
}  // namespace semfield::kernels
