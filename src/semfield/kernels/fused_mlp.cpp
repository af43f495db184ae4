// Fused MLP kernels: padded weight copies and block-wise forward/backward over the small GEMM (small_gemm.h).
#include "semfield/kernels/fused_mlp.h"

#include <algorithm>
#include <cstring>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "semfield/core/parallel.h"
#include "semfield/kernels/kernel_checks.h"
#include "semfield/kernels/small_gemm.h"

// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_*() seeds as "may be used uninitialized"
// once inlined (a false positive in the system header; see simd_ops.h).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace semfield::kernels {

namespace {

constexpr int64_t kBlockRows = 128;  // rows per block: x + three 64-wide activations ~ 112 KB, within L2

int64_t padded(int64_t n) { return (n + 15) / 16 * 16; }

using detail::gemm;

// The network's shape and its weights in the two zero-padded layouts the kernels read: transposed
// [in_i, padded(out_i)] for the forward pass and [out_i, padded(in_i)] for the input gradient.
struct PackedMlp {
  std::vector<int64_t> in, out;
  std::vector<std::vector<float>> forward, backward;
  int64_t n_layers() const { return static_cast<int64_t>(in.size()); }
};

PackedMlp pack(const std::vector<at::Tensor>& weights) {
  PackedMlp p;
  for (const at::Tensor& w : weights) {
    const at::Tensor wc = w.contiguous();
    const int64_t o = wc.size(0), i = wc.size(1), op = padded(o), ip = padded(i);
    const float* src = wc.data_ptr<float>();
    std::vector<float> f(static_cast<size_t>(i * op), 0.0f), b(static_cast<size_t>(o * ip), 0.0f);
    for (int64_t r = 0; r < o; ++r)
      for (int64_t c = 0; c < i; ++c) {
        f[static_cast<size_t>(c * op + r)] = src[r * i + c];
        b[static_cast<size_t>(r * ip + c)] = src[r * i + c];
      }
    p.in.push_back(i);
    p.out.push_back(o);
    p.forward.push_back(std::move(f));
    p.backward.push_back(std::move(b));
  }
  return p;
}

void check_args(const char* op, const at::Tensor& x, const std::vector<at::Tensor>& weights) {
  detail::check_dtype(op, "x", x, at::kFloat);
  detail::check_dim(op, "x", x, 2);
  TORCH_CHECK(!weights.empty(), op, ": no weights");
  int64_t width = x.size(1);
  for (size_t i = 0; i < weights.size(); ++i) {
    const std::string name = "weights[" + std::to_string(i) + "]";
    detail::check_dtype(op, name.c_str(), weights[i], at::kFloat);
    detail::check_dim(op, name.c_str(), weights[i], 2);
    TORCH_CHECK(weights[i].size(1) == width, op, ": ", name, " must have ", width, " input columns, got shape ",
                weights[i].sizes());
    width = weights[i].size(0);
  }
  detail::require_cpu(op, {{"x", &x}});
  for (const at::Tensor& w : weights) detail::require_cpu(op, {{"weights", &w}});
}

// Runs the hidden layers of one block: H[i + 1] = relu(H[i] W_i^T) for i < L - 1, H[0] being the block of
// x (row stride `ldx`). Returns the pointer and row stride of the last hidden activation.
struct BlockBuffers {
  std::vector<std::vector<float>> hidden;  // hidden[i]: [kBlockRows, padded(out_i)] for i < L - 1
  explicit BlockBuffers(const PackedMlp& p) {
    for (int64_t i = 0; i + 1 < p.n_layers(); ++i)
      hidden.emplace_back(static_cast<size_t>(kBlockRows * padded(p.out[static_cast<size_t>(i)])));
  }
};

void run_hidden(const PackedMlp& p, const float* x, int64_t ldx, int64_t rows, BlockBuffers& buf) {
  const float* h = x;
  int64_t ld = ldx;
  for (int64_t i = 0; i + 1 < p.n_layers(); ++i) {
    const auto u = static_cast<size_t>(i);
    const int64_t op = padded(p.out[u]);
    gemm(h, ld, 1, rows, p.in[u], p.forward[u].data(), op, op, buf.hidden[u].data(), op, false, true);
    h = buf.hidden[u].data();
    ld = op;
  }
}

}  // namespace

at::Tensor fused_mlp_forward(const at::Tensor& x_in, const std::vector<at::Tensor>& weights) {
  check_args("fused_mlp_forward", x_in, weights);
  const at::Tensor x = x_in.contiguous();
  const PackedMlp p = pack(weights);
  const int64_t n = x.size(0), in = x.size(1), L = p.n_layers();
  const int64_t out = p.out.back(), op = padded(out);
  at::Tensor y = at::empty({n, out}, x.options());
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const int64_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
  parallel_for(0, n_blocks, 4, [&](int64_t b0, int64_t b1) {
    BlockBuffers buf(p);
    std::vector<float> last(static_cast<size_t>(kBlockRows * op));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kBlockRows, rows = std::min(kBlockRows, n - r0);
      run_hidden(p, xp + r0 * in, in, rows, buf);
      const float* h = L > 1 ? buf.hidden.back().data() : xp + r0 * in;
      const int64_t ld = L > 1 ? padded(p.in.back()) : in;
      gemm(h, ld, 1, rows, p.in.back(), p.forward.back().data(), op, op, last.data(), op, false, false);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(yp + (r0 + r) * out, last.data() + r * op, static_cast<size_t>(out) * sizeof(float));
    }
  });
  return y;
}

FusedMlpGrads fused_mlp_backward(const at::Tensor& dy_in, const at::Tensor& x_in, const std::vector<at::Tensor>& weights,
                                 bool need_dx) {
  constexpr const char* op_name = "fused_mlp_backward";
  check_args(op_name, x_in, weights);
  detail::check_dtype(op_name, "dy", dy_in, at::kFloat);
  TORCH_CHECK(dy_in.dim() == 2 && dy_in.size(0) == x_in.size(0) && dy_in.size(1) == weights.back().size(0), op_name,
              ": dy must have shape [", x_in.size(0), ", ", weights.back().size(0), "], got ", dy_in.sizes());
  detail::require_cpu(op_name, {{"dy", &dy_in}});
  const at::Tensor x = x_in.contiguous(), dy = dy_in.contiguous();
  const PackedMlp p = pack(weights);
  const int64_t n = x.size(0), in = x.size(1), L = p.n_layers();
  const float* xp = x.data_ptr<float>();
  const float* dyp = dy.data_ptr<float>();
  FusedMlpGrads grads;
  if (need_dx) grads.dx = at::empty({n, in}, x.options());
  float* dxp = need_dx ? grads.dx.data_ptr<float>() : nullptr;

  // One weight-gradient accumulator [out_i, padded(in_i)] per chunk of blocks; a chunk per thread.
  const int64_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
  const int64_t n_chunks = std::max<int64_t>(1, std::min<int64_t>(parallel_threads(), n_blocks));
  const int64_t blocks_per_chunk = (n_blocks + n_chunks - 1) / n_chunks;
  std::vector<std::vector<std::vector<float>>> partial(static_cast<size_t>(n_chunks));
  for (auto& chunk : partial)
    for (int64_t i = 0; i < L; ++i)
      chunk.emplace_back(static_cast<size_t>(p.out[static_cast<size_t>(i)] * padded(p.in[static_cast<size_t>(i)])), 0.0f);

  parallel_for(0, n_chunks, 1, [&](int64_t c0, int64_t c1) {
    BlockBuffers buf(p);
    int64_t widest = padded(in);
    for (int64_t i = 0; i < L; ++i) widest = std::max(widest, padded(p.out[static_cast<size_t>(i)]));
    std::vector<float> xpad(static_cast<size_t>(kBlockRows * padded(in)), 0.0f);
    std::vector<float> g(static_cast<size_t>(kBlockRows * widest)), g_prev(g.size());
    for (int64_t c = c0; c < c1; ++c) {
      std::vector<std::vector<float>>& dw = partial[static_cast<size_t>(c)];
      const int64_t b_end = std::min(n_blocks, (c + 1) * blocks_per_chunk);
      for (int64_t b = c * blocks_per_chunk; b < b_end; ++b) {
        const int64_t r0 = b * kBlockRows, rows = std::min(kBlockRows, n - r0);
        const int64_t inp = padded(in);
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(xpad.data() + r * inp, xp + (r0 + r) * in, static_cast<size_t>(in) * sizeof(float));
        run_hidden(p, xpad.data(), inp, rows, buf);
        // g: dL/d(output of layer i), padded rows; starts as dy.
        int64_t ldg = padded(p.out.back());
        std::fill(g.begin(), g.end(), 0.0f);
        for (int64_t r = 0; r < rows; ++r)
          std::memcpy(g.data() + r * ldg, dyp + (r0 + r) * p.out.back(), static_cast<size_t>(p.out.back()) * sizeof(float));
        for (int64_t i = L - 1; i >= 0; --i) {
          const auto u = static_cast<size_t>(i);
          const int64_t ip = padded(p.in[u]);
          const float* h = i == 0 ? xpad.data() : buf.hidden[u - 1].data();  // layer i's input, row stride ip
          // dW_i += g^T h: rows o of dW from columns o of g.
          gemm(g.data(), 1, ldg, p.out[u], rows, h, ip, ip, dw[u].data(), ip, true, false);
          if (i == 0 && !need_dx) break;
          // dL/d(input of layer i) = g W_i; through the previous ReLU (its output > 0 where it passed).
          gemm(g.data(), ldg, 1, rows, p.out[u], p.backward[u].data(), ip, ip, g_prev.data(), ip, false, false);
          if (i > 0) {
            for (int64_t k = 0; k < rows * ip; ++k)
              if (!(h[k] > 0.0f)) g_prev[static_cast<size_t>(k)] = 0.0f;
          } else {
            for (int64_t r = 0; r < rows; ++r)
              std::memcpy(dxp + (r0 + r) * in, g_prev.data() + r * ip, static_cast<size_t>(in) * sizeof(float));
          }
          std::swap(g, g_prev);
          ldg = ip;
        }
      }
    }
  });

  // Sum the chunks in order (deterministic) and drop the padding.
  for (int64_t i = 0; i < L; ++i) {
    const auto u = static_cast<size_t>(i);
    const int64_t o = p.out[u], ii = p.in[u], ip = padded(ii);
    at::Tensor dw = at::zeros({o, ii}, x.options());
    float* d = dw.data_ptr<float>();
    for (const auto& chunk : partial)
      for (int64_t r = 0; r < o; ++r)
        for (int64_t k = 0; k < ii; ++k) d[r * ii + k] += chunk[u][static_cast<size_t>(r * ip + k)];
    grads.dweights.push_back(dw);
  }
  return grads;
}

namespace {

class FusedMlpFunction : public torch::autograd::Function<FusedMlpFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, at::TensorList weights) {
    std::vector<at::Tensor> saved{x};
    saved.insert(saved.end(), weights.begin(), weights.end());
    ctx->save_for_backward(saved);
    return fused_mlp_forward(x, weights.vec());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const std::vector<at::Tensor> weights(saved.begin() + 1, saved.end());
    torch::autograd::variable_list out(saved.size());
    if (!grad_outputs[0].defined()) return out;
    FusedMlpGrads grads = fused_mlp_backward(grad_outputs[0], saved[0], weights, ctx->needs_input_grad(0));
    out[0] = grads.dx;
    for (size_t i = 0; i < weights.size(); ++i)
      if (ctx->needs_input_grad(i + 1)) out[i + 1] = grads.dweights[i];
    return out;
  }
};

}  // namespace

at::Tensor fused_mlp(const at::Tensor& x, const std::vector<at::Tensor>& weights) {
  return FusedMlpFunction::apply(x, at::TensorList(weights));
}

at::Tensor mlp_reference(const at::Tensor& x, const std::vector<at::Tensor>& weights) {
  at::Tensor h = x;
  for (size_t i = 0; i < weights.size(); ++i) {
    h = at::mm(h, weights[i].t());
    if (i + 1 < weights.size()) h = at::relu(h);
  }
  return h;
}

}  // namespace semfield::kernels
