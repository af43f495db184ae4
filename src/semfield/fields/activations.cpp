// Truncated-exponential activation as an autograd function.
#include "semfield/fields/activations.h"

#include <torch/csrc/autograd/custom_function.h>

namespace semfield {

namespace {

class TruncExp : public torch::autograd::Function<TruncExp> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return x.exp();
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {grad[0] * x.clamp_max(15.0).exp()};
  }
};

}  // namespace

at::Tensor trunc_exp(const at::Tensor& x) { return TruncExp::apply(x); }

}  // namespace semfield
