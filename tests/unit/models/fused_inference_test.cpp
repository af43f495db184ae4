// Tests for the networks' shared rule of when a fused inference kernel replaces the LibTorch path.
#include "semfield/models/fused_inference.h"

#include <gtest/gtest.h>

using namespace semfield;

namespace {

std::vector<at::Tensor> frozen_parameters() { return {at::ones({2, 2}), at::zeros({2})}; }

}  // namespace

TEST(FusedInference, CpuFloatInputsWithoutGradientTakeTheKernel) {
  const at::Tensor a = at::ones({4, 3}), b = at::zeros({4, 3});
  EXPECT_TRUE(fused_inference_applies(true, {&a, &b}, frozen_parameters()));
  EXPECT_TRUE(fused_inference_applies(true, {}, {}));
  // The switch (SEMFIELD_FUSED_*=0) turns it off whatever the inputs.
  EXPECT_FALSE(fused_inference_applies(false, {&a, &b}, frozen_parameters()));
}

TEST(FusedInference, OtherDtypesKeepTheLibTorchPath) {
  const at::Tensor a = at::ones({4, 3});
  for (const auto dtype : {at::kDouble, at::kHalf, at::kBFloat16, at::kInt}) {
    const at::Tensor b = at::ones({4, 3}, dtype);
    EXPECT_FALSE(fused_inference_applies(true, {&a, &b}, frozen_parameters())) << dtype;
    at::NoGradGuard no_grad;
    EXPECT_FALSE(fused_inference_applies(true, {&b, &a}, frozen_parameters())) << dtype;
  }
}

TEST(FusedInference, InputsOffTheCpuKeepTheLibTorchPath) {
  // A tensor on the meta device stands for any other device (a CUDA build's inputs) without one.
  const at::Tensor a = at::ones({4, 3}), elsewhere = at::empty({4, 3}, at::TensorOptions().device(at::kMeta));
  at::NoGradGuard no_grad;
  EXPECT_FALSE(fused_inference_applies(true, {&a, &elsewhere}, frozen_parameters()));
}

TEST(FusedInference, UndefinedInputsAreSkipped) {
  const at::Tensor a = at::ones({4, 3}), none;
  EXPECT_TRUE(fused_inference_applies(true, {&a, &none}, frozen_parameters()));
  EXPECT_TRUE(fused_inference_applies(true, {&none}, frozen_parameters()));
}

TEST(FusedInference, AWantedGradientKeepsTheLibTorchPath) {
  const at::Tensor a = at::ones({4, 3});
  const at::Tensor x = at::ones({4, 3}).set_requires_grad(true);
  std::vector<at::Tensor> trained = frozen_parameters();
  trained.push_back(at::ones({3}).set_requires_grad(true));
  // Grad mode on: an input or a parameter that requires a gradient means training, which the kernels cannot serve.
  EXPECT_FALSE(fused_inference_applies(true, {&a, &x}, frozen_parameters()));
  EXPECT_FALSE(fused_inference_applies(true, {&a}, trained));
  // Grad mode off (inference under NoGradGuard): nothing will be differentiated.
  at::NoGradGuard no_grad;
  EXPECT_TRUE(fused_inference_applies(true, {&a, &x}, trained));
}
