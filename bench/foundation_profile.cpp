// Per-op profile of the foundation-model forward passes at full size (random weights: timing does not depend on
// the values), next to the bare GEMM rate measured in the same run, so the ratio says how close each encoder runs
// to the machine's limit. Installs the caching allocator as the CLI does.
//
//   build/bench/foundation_profile [--models sam_vit_b,sam_vit_h,clip,dino] [--precision fp32|bf16]
//                                  [--repeats N] [--threads N]
//
// Prints one table per model (op, calls, ms, share, GFLOP/s) and a summary line per model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/runtime_settings.h"
#include "semfield/foundation/clip_model.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/foundation/op_profile.h"
#include "semfield/foundation/sam_model.h"
#include "semfield/foundation/transformer_ops.h"
#include "semfield/kernels/caching_allocator.h"

namespace {

using namespace semfield::foundation;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best of `repeats` timings of fn.
double best_time(int repeats, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// The linear layers' GEMM shape of a ViT-B (4096 tokens x 768 -> 3072), in the given dtype.
double gemm_rate(at::ScalarType dtype) {
  at::InferenceMode guard;
  const at::Tensor x = at::randn({4096, 768}).to(dtype), w = at::randn({3072, 768}).to(dtype);
  const at::Tensor b = at::randn({3072}).to(dtype);
  at::linear(x, w, b);
  const double t = best_time(5, [&] { at::linear(x, w, b); });
  return 2.0 * 4096 * 768 * 3072 / t / 1e9;
}

struct Case {
  std::string name;
  double gflop;  // forward FLOPs (2 x multiply-adds), for the whole-model rate
  std::function<void()> run;
};

void print_profile(const std::string& name, double total_s, int runs) {
  std::vector<OpProfileEntry> entries = OpProfile::entries();
  double timed = 0.0;
  for (const auto& e : entries) timed += e.seconds;
  std::printf("\n%s: per forward pass (average of %d)\n", name.c_str(), runs);
  std::printf("| op | calls | ms | share | GFLOP/s |\n|---|---:|---:|---:|---:|\n");
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  for (const auto& e : entries) {
    const double ms = 1e3 * e.seconds / runs;
    std::printf("| %s | %lld | %.1f | %.1f %% | %s |\n", e.name.c_str(), static_cast<long long>(e.calls / runs), ms,
                100.0 * e.seconds / (total_s * runs),
                e.flops > 0 ? std::to_string(static_cast<int>(e.flops / e.seconds / 1e9)).c_str() : "");
  }
  const double other = total_s * runs - timed;
  std::printf("| (outside the timed ops) | | %.1f | %.1f %% | |\n", 1e3 * other / runs, 100.0 * other / (total_s * runs));
}

}  // namespace

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);
  std::string models = "sam_vit_b,clip,dino", precision = "fp32";
  int repeats = 2, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--models") models = value;
    else if (key == "--precision") precision = value;
    else if (key == "--repeats") repeats = std::max(1, std::atoi(value.c_str()));
    else if (key == "--threads") threads = std::max(1, std::atoi(value.c_str()));
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  at::set_num_threads(threads);
  semfield::kernels::install_caching_cpu_allocator();
  set_foundation_precision(parse_precision(precision));
  std::printf("threads %d, precision %s, avx512_bf16 %s, fused attention %s\n", threads, precision.c_str(),
              cpu_has_bf16() ? "yes" : "no", std::getenv("SEMFIELD_FUSED_ATTENTION") ? std::getenv("SEMFIELD_FUSED_ATTENTION") : "1");
  const double gemm32 = gemm_rate(at::kFloat), gemm16 = gemm_rate(at::kBFloat16);
  std::printf("bare GEMM (at::linear 4096x768 -> 3072): fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s\n", gemm32, gemm16);

  std::vector<Case> cases;
  std::stringstream list(models);
  for (std::string m; std::getline(list, m, ',');) {
    if (m == "sam_vit_b" || m == "sam_vit_l" || m == "sam_vit_h") {
      auto model = std::make_shared<SamModel>(SamConfig::preset(m.substr(4)));
      model->weights().randomize(1, 0.02);
      auto input = std::make_shared<at::Tensor>(at::randn({1, 3, 1024, 1024}));
      const double gflop = m == "sam_vit_b" ? 974.0 : m == "sam_vit_l" ? 2830.0 : 5640.0;
      cases.push_back({"SAM " + m.substr(4) + " image encoder 1024x1024", gflop,
                       [model, input] { model->image_encoder().forward(*input); }});
    } else if (m == "clip") {
      auto model = std::make_shared<ClipModel>(ClipConfig::preset("ViT-B/16"));
      model->weights().randomize(2, 0.02);
      auto input = std::make_shared<at::Tensor>(at::randn({1, 3, 224, 224}));
      cases.push_back({"CLIP ViT-B/16 image 224", 35.2, [model, input] { model->encode_image(*input, false); }});
    } else if (m == "dino") {
      auto model = std::make_shared<DinoModel>(DinoConfig::preset("vit_small8"));
      model->weights().randomize(3, 0.02);
      auto input = std::make_shared<at::Tensor>(at::randn({1, 3, 224, 224}));
      cases.push_back({"DINO ViT-S/8 224", 44.6, [model, input] { model->forward(*input); }});
    } else {
      std::fprintf(stderr, "unknown model %s (sam_vit_b, sam_vit_l, sam_vit_h, clip, dino)\n", m.c_str());
      return 2;
    }
  }
  for (const Case& c : cases) {
    at::InferenceMode guard;
    c.run();  // warm-up: bf16 weight copies, allocator cache
    const double best = best_time(repeats, c.run);
    OpProfile::reset();
    OpProfile::enable(true);
    const auto t0 = std::chrono::steady_clock::now();
    c.run();
    const double profiled = seconds_since(t0);
    OpProfile::enable(false);
    print_profile(c.name, profiled, 1);
    std::printf("%s: best of %d %.3f s, %.0f GFLOP/s = %.2f of the bare fp32 GEMM rate (%.2f of bf16's)\n",
                c.name.c_str(), repeats, best, c.gflop / best, c.gflop / best / gemm32, c.gflop / best / gemm16);
  }
  return 0;
}
