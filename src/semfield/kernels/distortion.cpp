// The distortion loss: CPU forward/backward kernels (parallel over rays), the autograd wrapper and the reference.
#include "semfield/kernels/distortion.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "semfield/kernels/kernel_checks.h"

namespace semfield::kernels {

namespace {

/// Validates the packed inputs; returns R.
int64_t check_inputs(const char* op, const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                     const at::Tensor& ray_offsets) {
  detail::check_float(op, "weights", weights, 1);
  detail::check_float(op, "midpoints", midpoints, 1);
  detail::check_float(op, "widths", widths, 1);
  const int64_t S = weights.size(0);
  detail::check_size(op, "midpoints", midpoints, 0, S, "S, the length of weights");
  detail::check_size(op, "widths", widths, 0, S, "S, the length of weights");
  detail::require_cpu(op, {{"weights", &weights}, {"midpoints", &midpoints}, {"widths", &widths}});
  const int64_t R = detail::check_ray_offsets(op, ray_offsets, S);
  return R;
}

// Rays per task: about 16k samples each, as the compositing kernel's.
int64_t grain(int64_t S, int64_t R) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, S / std::max<int64_t>(R, 1)));
}

}  // namespace

at::Tensor distortion_forward(const at::Tensor& weights_in, const at::Tensor& midpoints_in, const at::Tensor& widths_in,
                              const at::Tensor& ray_offsets_in) {
  const int64_t R = check_inputs("distortion_forward", weights_in, midpoints_in, widths_in, ray_offsets_in);
  const at::Tensor weights = weights_in.contiguous(), midpoints = midpoints_in.contiguous(),
                   widths = widths_in.contiguous(), ray_offsets = ray_offsets_in.contiguous();
  at::Tensor loss = at::empty({R}, weights.options());
  const float* w = weights.data_ptr<float>();
  const float* m = midpoints.data_ptr<float>();
  const float* d = widths.data_ptr<float>();
  const int64_t* off = ray_offsets.data_ptr<int64_t>();
  float* out = loss.data_ptr<float>();
  // Double accumulators: the prefix sums run over up to a thousand samples and their differences matter.
  at::parallel_for(0, R, grain(weights.size(0), R), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      double prefix_w = 0, prefix_wm = 0, pairs = 0, self = 0;
      for (int64_t i = off[r]; i < off[r + 1]; ++i) {
        pairs += w[i] * (m[i] * prefix_w - prefix_wm);
        self += static_cast<double>(w[i]) * w[i] * d[i];
        prefix_w += w[i];
        prefix_wm += static_cast<double>(w[i]) * m[i];
      }
      out[r] = static_cast<float>(2.0 * pairs + self / 3.0);
    }
  });
  return loss;
}

at::Tensor distortion_backward(const at::Tensor& dL_dloss_in, const at::Tensor& weights_in,
                               const at::Tensor& midpoints_in, const at::Tensor& widths_in,
                               const at::Tensor& ray_offsets_in) {
  constexpr const char* op = "distortion_backward";
  const int64_t R = check_inputs(op, weights_in, midpoints_in, widths_in, ray_offsets_in);
  detail::check_dtype(op, "dL_dloss", dL_dloss_in, at::kFloat);
  detail::check_dim(op, "dL_dloss", dL_dloss_in, 1);
  detail::check_size(op, "dL_dloss", dL_dloss_in, 0, R, "R, the number of rays");
  const at::Tensor g_t = dL_dloss_in.contiguous(), weights = weights_in.contiguous(),
                   midpoints = midpoints_in.contiguous(), widths = widths_in.contiguous(),
                   ray_offsets = ray_offsets_in.contiguous();
  at::Tensor grad = at::empty_like(weights);
  const float* g = g_t.data_ptr<float>();
  const float* w = weights.data_ptr<float>();
  const float* m = midpoints.data_ptr<float>();
  const float* d = widths.data_ptr<float>();
  const int64_t* off = ray_offsets.data_ptr<int64_t>();
  float* out = grad.data_ptr<float>();
  at::parallel_for(0, R, grain(weights.size(0), R), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      double total_w = 0, total_wm = 0;
      for (int64_t i = off[r]; i < off[r + 1]; ++i) total_w += w[i], total_wm += static_cast<double>(w[i]) * m[i];
      // sum_j w_j |m_k - m_j| = (m_k W_<k - M_<k) + (M_>k - m_k W_>k).
      double prefix_w = 0, prefix_wm = 0;
      for (int64_t k = off[r]; k < off[r + 1]; ++k) {
        const double suffix_w = total_w - prefix_w - w[k], suffix_wm = total_wm - prefix_wm - double(w[k]) * m[k];
        const double spread = (m[k] * prefix_w - prefix_wm) + (suffix_wm - m[k] * suffix_w);
        out[k] = static_cast<float>(g[r] * (2.0 * spread + 2.0 / 3.0 * w[k] * d[k]));
        prefix_w += w[k];
        prefix_wm += static_cast<double>(w[k]) * m[k];
      }
    }
  });
  return grad;
}

namespace {

class DistortionFunction : public torch::autograd::Function<DistortionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& weights,
                            const at::Tensor& midpoints, const at::Tensor& widths, const at::Tensor& ray_offsets) {
    ctx->save_for_backward({weights, midpoints, widths, ray_offsets});
    return distortion_forward(weights, midpoints, widths, ray_offsets);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    return {distortion_backward(grad_outputs[0], saved[0], saved[1], saved[2], saved[3]), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor distortion(const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                      const at::Tensor& ray_offsets) {
  return DistortionFunction::apply(weights, midpoints, widths, ray_offsets);
}

at::Tensor distortion_reference(const at::Tensor& weights, const at::Tensor& midpoints, const at::Tensor& widths,
                                const at::Tensor& ray_offsets) {
  const int64_t R = ray_offsets.size(0) - 1;
  const auto off = ray_offsets.accessor<int64_t, 1>();
  std::vector<at::Tensor> losses;
  for (int64_t r = 0; r < R; ++r) {
    const at::Tensor w = weights.slice(0, off[r], off[r + 1]), m = midpoints.slice(0, off[r], off[r + 1]);
    const at::Tensor pairs = (w.unsqueeze(1) * w.unsqueeze(0) * (m.unsqueeze(1) - m.unsqueeze(0)).abs()).sum();
    losses.push_back(pairs + (w * w * widths.slice(0, off[r], off[r + 1])).sum() / 3.0);
  }
  return R == 0 ? at::zeros({0}, weights.options()) : at::stack(losses);
}

}  // namespace semfield::kernels
