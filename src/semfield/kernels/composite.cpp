// Volume compositing of packed ray samples: CPU forward/backward kernels (parallel over rays, vectorised
// over channels), the autograd wrapper and the plain-LibTorch reference.
#include "semfield/kernels/composite.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "semfield/kernels/huge_page_tensor.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/simd_ops.h"

namespace semfield::kernels {

namespace {

/// Validates the packed inputs; returns {S, C, R}. Reads ray_offsets, so it must be a CPU tensor.
struct PackedShape {
  int64_t S, C, R;
};

PackedShape check_packed(const char* op, const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                         const at::Tensor& ts, const at::Tensor& ray_offsets) {
  detail::check_float(op, "sigmas", sigmas, 1);
  detail::check_float(op, "values", values, 2);
  detail::check_float(op, "dts", dts, 1);
  detail::check_float(op, "ts", ts, 1);
  const int64_t S = sigmas.size(0);
  detail::check_size(op, "values", values, 0, S, "S, the length of sigmas");
  TORCH_CHECK(values.size(1) >= 1, op, ": values must have at least one channel, got shape ", values.sizes());
  detail::check_size(op, "dts", dts, 0, S, "S, the length of sigmas");
  detail::check_size(op, "ts", ts, 0, S, "S, the length of sigmas");
  detail::require_cpu(op, {{"sigmas", &sigmas}, {"values", &values}, {"dts", &dts}, {"ts", &ts}});
  const int64_t R = detail::check_ray_offsets(op, ray_offsets, S);
  return {S, values.size(1), R};
}

void check_ray_grad(const char* op, const char* name, const at::Tensor& g, int64_t R, int64_t C) {
  if (!g.defined()) return;
  detail::check_dtype(op, name, g, at::kFloat);
  detail::require_cpu(op, {{name, &g}});
  if (C < 0) {
    detail::check_dim(op, name, g, 1);
    detail::check_size(op, name, g, 0, R, "R, the number of rays");
  } else {
    detail::check_dim(op, name, g, 2);
    detail::check_size(op, name, g, 0, R, "R, the number of rays");
    detail::check_size(op, name, g, 1, C, "C, the channels of values");
  }
}

/// Rays per task: enough samples x channels per task to amortise scheduling.
int64_t ray_grain(int64_t S, int64_t C, int64_t R) {
  const int64_t per_ray = std::max<int64_t>(1, (S / std::max<int64_t>(R, 1)) * C);
  return std::max<int64_t>(1, 16384 / per_ray);
}

/// One sample's opacity terms. alpha = 1 - exp(-sigma dt) via expm1, accurate for small sigma*dt, and the
/// transmittance factor exp(-sigma dt) = 1 + expm1(..). Forward and backward share this so their
/// early-termination decisions agree bit for bit.
struct SampleOpacity {
  float alpha, keep;
};
inline SampleOpacity sample_opacity(float sigma, float dt) {
  const float m = std::expm1(-sigma * dt);
  return {-m, 1.f + m};
}

CompositeOutputs composite_forward_cpu(const at::Tensor& sigmas_in, const at::Tensor& values_in,
                                       const at::Tensor& dts_in, const at::Tensor& ts_in,
                                       const at::Tensor& ray_offsets_in, const PackedShape& shape,
                                       double transmittance_min) {
  const auto [S, C, R] = shape;
  const at::Tensor sigmas = sigmas_in.contiguous(), values = values_in.contiguous(), dts = dts_in.contiguous(),
                   ts = ts_in.contiguous(), ray_offsets = ray_offsets_in.contiguous();
  const auto opts = sigmas.options();
  CompositeOutputs out{detail::empty_huge_page({R, C}, at::kFloat), at::empty({R}, opts), at::empty({R}, opts),
                       detail::empty_huge_page({S}, at::kFloat)};
  const float* sg = sigmas.data_ptr<float>();
  const float* v = values.data_ptr<float>();
  const float* dt = dts.data_ptr<float>();
  const float* t = ts.data_ptr<float>();
  const int64_t* off = ray_offsets.data_ptr<int64_t>();
  float* ov = out.values.data_ptr<float>();
  float* oo = out.opacity.data_ptr<float>();
  float* od = out.depth.data_ptr<float>();
  float* ow = out.weights.data_ptr<float>();
  const float t_min = float(transmittance_min);

  at::parallel_for(0, R, ray_grain(S, C, R), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      float* acc = ov + r * C;
      detail::fill_zero(C, acc);
      float T = 1.f, opacity = 0.f, depth = 0.f;
      int64_t i = off[r];
      const int64_t end = off[r + 1];
      for (; i < end && !(T < t_min); ++i) {
        const SampleOpacity so = sample_opacity(sg[i], dt[i]);
        const float w = T * so.alpha;
        ow[i] = w;
        opacity += w;
        depth += w * t[i];
        detail::axpy(C, w, v + i * C, acc);
        T *= so.keep;
      }
      for (; i < end; ++i) ow[i] = 0.f;
      oo[r] = opacity;
      od[r] = depth;
    }
  });
  return out;
}

// Gradient derivation (per ray, samples i that pass the early-termination gate; the gate is a step
// function of the inputs, so it has zero derivative and the dropped samples are constants 0).
//   T_i = exp(-sum_{k<i} sigma_k dt_k), alpha_i = 1 - exp(-sigma_i dt_i), w_i = T_i alpha_i.
//   dw_j/dsigma_i = 0 for j < i;  = dt_i T_i exp(-sigma_i dt_i) = dt_i T_{i+1} for j = i;
//                 = -dt_i T_j alpha_j = -dt_i w_j for j > i (T_j contains exp(-sigma_i dt_i)).
//   With g_j = dL/dw_j = <dL/dvalues, v_j> + dL/dopacity + dL/ddepth t_j (+ dL/dw_j from a loss on the weights):
//   dL/dsigma_i = sum_j g_j dw_j/dsigma_i = dt_i (T_{i+1} g_i - sum_{j>i} w_j g_j),   dL/dv_i = w_i dL/dvalues.
// The suffix sum is accumulated back to front (not as total - prefix), so late samples, whose suffix is
// tiny next to the total, keep their relative precision.
CompositeGrads composite_backward_cpu(const at::Tensor& dL_dvalues_in, const at::Tensor& dL_dopacity_in,
                                      const at::Tensor& dL_ddepth_in, const at::Tensor& sigmas_in,
                                      const at::Tensor& values_in, const at::Tensor& dts_in, const at::Tensor& ts_in,
                                      const at::Tensor& ray_offsets_in, const PackedShape& shape,
                                      double transmittance_min, const at::Tensor& dL_dweights_in) {
  const auto [S, C, R] = shape;
  const at::Tensor sigmas = sigmas_in.contiguous(), values = values_in.contiguous(), dts = dts_in.contiguous(),
                   ts = ts_in.contiguous(), ray_offsets = ray_offsets_in.contiguous();
  const at::Tensor gv_t = dL_dvalues_in.defined() ? dL_dvalues_in.contiguous() : at::Tensor();
  const at::Tensor go_t = dL_dopacity_in.defined() ? dL_dopacity_in.contiguous() : at::Tensor();
  const at::Tensor gd_t = dL_ddepth_in.defined() ? dL_ddepth_in.contiguous() : at::Tensor();
  const at::Tensor gw_t = dL_dweights_in.defined() ? dL_dweights_in.contiguous() : at::Tensor();
  CompositeGrads grads{detail::empty_huge_page({S}, at::kFloat), detail::empty_huge_page({S, C}, at::kFloat)};

  const float* sg = sigmas.data_ptr<float>();
  const float* v = values.data_ptr<float>();
  const float* dt = dts.data_ptr<float>();
  const float* t = ts.data_ptr<float>();
  const int64_t* off = ray_offsets.data_ptr<int64_t>();
  const float* gv_all = gv_t.defined() ? gv_t.data_ptr<float>() : nullptr;
  const float* go_all = go_t.defined() ? go_t.data_ptr<float>() : nullptr;
  const float* gd_all = gd_t.defined() ? gd_t.data_ptr<float>() : nullptr;
  const float* gw = gw_t.defined() ? gw_t.data_ptr<float>() : nullptr;
  float* dsig = grads.dL_dsigmas.data_ptr<float>();
  float* dval = grads.dL_dvalues.data_ptr<float>();
  const float t_min = float(transmittance_min);

  at::parallel_for(0, R, ray_grain(S, C, R), [&](int64_t rb, int64_t re) {
    // Per sample of the current ray: T_{i+1} g_i and w_i g_i.
    std::vector<float> tg, wg;
    for (int64_t r = rb; r < re; ++r) {
      const int64_t begin = off[r], end = off[r + 1];
      tg.resize(size_t(end - begin));
      wg.resize(size_t(end - begin));
      const float* gv = gv_all ? gv_all + r * C : nullptr;
      const float go = go_all ? go_all[r] : 0.f;
      const float gd = gd_all ? gd_all[r] : 0.f;
      float T = 1.f;
      int64_t i = begin;
      for (; i < end && !(T < t_min); ++i) {
        const SampleOpacity so = sample_opacity(sg[i], dt[i]);
        const float w = T * so.alpha;
        const float T_next = T * so.keep;
        float g = go + gd * t[i] + (gw ? gw[i] : 0.f);
        if (gv) {
          g += detail::dot(C, gv, v + i * C);
          detail::scale_to(C, w, gv, dval + i * C);
        } else {
          detail::fill_zero(C, dval + i * C);
        }
        tg[size_t(i - begin)] = T_next * g;
        wg[size_t(i - begin)] = w * g;
        T = T_next;
      }
      const int64_t active_end = i;
      for (; i < end; ++i) {
        dsig[i] = 0.f;
        detail::fill_zero(C, dval + i * C);
      }
      float suffix = 0.f;  // sum_{j>i} w_j g_j
      for (int64_t j = active_end - 1; j >= begin; --j) {
        dsig[j] = dt[j] * (tg[size_t(j - begin)] - suffix);
        suffix += wg[size_t(j - begin)];
      }
    }
  });
  return grads;
}

}  // namespace

CompositeOutputs composite_forward(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                                   const at::Tensor& ts, const at::Tensor& ray_offsets, double transmittance_min) {
  const PackedShape shape = check_packed("composite_forward", sigmas, values, dts, ts, ray_offsets);
  return composite_forward_cpu(sigmas, values, dts, ts, ray_offsets, shape, transmittance_min);
}

// `forward` is not read: the CPU kernel recomputes the transmittance so that its early-termination gate is
// exactly the forward's.
CompositeGrads composite_backward(const at::Tensor& dL_dvalues, const at::Tensor& dL_dopacity,
                                  const at::Tensor& dL_ddepth, const at::Tensor& sigmas, const at::Tensor& values,
                                  const at::Tensor& dts, const at::Tensor& ts, const at::Tensor& ray_offsets,
                                  const CompositeOutputs& /*forward*/, double transmittance_min,
                                  const at::Tensor& dL_dweights) {
  constexpr const char* op = "composite_backward";
  const PackedShape shape = check_packed(op, sigmas, values, dts, ts, ray_offsets);
  check_ray_grad(op, "dL_dvalues", dL_dvalues, shape.R, shape.C);
  check_ray_grad(op, "dL_dopacity", dL_dopacity, shape.R, -1);
  check_ray_grad(op, "dL_ddepth", dL_ddepth, shape.R, -1);
  check_ray_grad(op, "dL_dweights", dL_dweights, shape.S, -1);
  return composite_backward_cpu(dL_dvalues, dL_dopacity, dL_ddepth, sigmas, values, dts, ts, ray_offsets, shape,
                                transmittance_min, dL_dweights);
}

namespace {

/// Autograd node: (values, opacity, depth, weights) = composite(sigmas, values; dts, ts, offsets).
/// Gradients flow to sigmas and values, from all four outputs (a loss on the weights: the distortion loss).
class CompositeFunction : public torch::autograd::Function<CompositeFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& sigmas,
                                                const at::Tensor& values, const at::Tensor& dts, const at::Tensor& ts,
                                                const at::Tensor& ray_offsets, double transmittance_min) {
    // Unused outputs keep undefined gradients; the kernel treats them as zero without materialising them.
    ctx->set_materialize_grads(false);
    CompositeOutputs out = composite_forward(sigmas, values, dts, ts, ray_offsets, transmittance_min);
    ctx->save_for_backward({sigmas, values, dts, ts, ray_offsets});
    ctx->saved_data["transmittance_min"] = transmittance_min;
    return {out.values, out.opacity, out.depth, out.weights};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const double transmittance_min = ctx->saved_data["transmittance_min"].toDouble();
    CompositeGrads g = composite_backward(grad_outputs[0], grad_outputs[1], grad_outputs[2], saved[0], saved[1],
                                          saved[2], saved[3], saved[4], CompositeOutputs{}, transmittance_min,
                                          grad_outputs[3]);
    return {g.dL_dsigmas, g.dL_dvalues, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

CompositeOutputs composite(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                           const at::Tensor& ts, const at::Tensor& ray_offsets, double transmittance_min) {
  const auto out = CompositeFunction::apply(sigmas, values, dts, ts, ray_offsets, transmittance_min);
  return {out[0], out[1], out[2], out[3]};
}

CompositeOutputs composite_reference(const at::Tensor& sigmas, const at::Tensor& values, const at::Tensor& dts,
                                     const at::Tensor& ts, const at::Tensor& ray_offsets) {
  constexpr const char* op = "composite_reference";
  detail::check_dim(op, "values", values, 2);
  detail::check_dtype(op, "ray_offsets", ray_offsets, at::kLong);
  const int64_t R = ray_offsets.size(0) - 1, C = values.size(1);
  const auto off = ray_offsets.accessor<int64_t, 1>();
  std::vector<at::Tensor> ray_values, ray_opacity, ray_depth, ray_weights;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t b = off[r], e = off[r + 1];
    const at::Tensor sd = sigmas.slice(0, b, e) * dts.slice(0, b, e);
    const at::Tensor alpha = -at::expm1(-sd);
    // Exclusive product: T_0 = 1, T_i = prod_{j<i} (1 - alpha_j).
    const at::Tensor T = at::cat({at::ones({1}, sigmas.options()), at::cumprod(1 - alpha, 0)}).slice(0, 0, e - b);
    const at::Tensor w = T * alpha;
    ray_values.push_back((w.unsqueeze(1) * values.slice(0, b, e)).sum(0));
    ray_opacity.push_back(w.sum());
    ray_depth.push_back((w * ts.slice(0, b, e)).sum());
    ray_weights.push_back(w);
  }
  if (R == 0) {
    return {at::zeros({0, C}, values.options()), at::zeros({0}, sigmas.options()), at::zeros({0}, sigmas.options()),
            at::zeros({0}, sigmas.options())};
  }
  return {at::stack(ray_values), at::stack(ray_opacity), at::stack(ray_depth), at::cat(ray_weights)};
}

}  // namespace semfield::kernels
