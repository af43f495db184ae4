// Entry point of the `semfield` CLI: global options, subcommand dispatch, and error reporting.
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/core/parallel.h"
#include "semfield/core/runtime_settings.h"
#include "semfield/foundation/transformer_ops.h"
#include "semfield/kernels/caching_allocator.h"
#include "semfield/kernels/layer_precision.h"

#include <ATen/Parallel.h>

namespace semfield::cli {

namespace {
std::vector<std::string> g_command_line;
}  // namespace

const std::vector<std::string>& command_line() { return g_command_line; }

namespace {
/// Warns, with both measured rates, where bf16 is measurably slower than fp32 on this CPU (core/precision.h).
void warn_if_bf16_slower(const char* option, const char* finding, const PrecisionRates& rates, const char* unit) {
  if (!bf16_is_slower(rates)) return;
  log::warn("{} bf16: on this CPU {} (measured {:.0f} vs {:.0f} {}), so fp32, the exact path, is also the faster one "
            "here",
            option, finding, rates.bf16, rates.fp32, unit);
}
}  // namespace

}  // namespace semfield::cli

int main(int argc, char** argv) {
  semfield::reexec_with_runtime_settings(argv);  // idle threads sleep, BLAS kernels fit the CPU: runtime_settings.h
  semfield::cli::g_command_line.assign(argv, argv + argc);
  CLI::App app{"semfield: semantic radiance fields — reconstruct, segment and label 3D scenes on a CPU"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string log_level = "info";
  app.add_option("--threads", threads, "Worker threads for kernels and LibTorch (default: all cores)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--log-level", log_level, "debug | info | warn | error | off");
  std::string precision = "fp32";
  app.add_option("--encoder-precision", precision,
                 "Arithmetic of the SAM / CLIP / DINO encoders' linear layers: fp32 (default, golden-exact) or bf16 "
                 "(~2x faster where the CPU's AVX512-BF16 is fast, e.g. AMD Zen 4; slower on Intel Xeons without "
                 "AMX, where the CLI warns; ~1 % of the output range off, docs/foundation_models.md)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  std::string layer_precision = "fp32";
  app.add_option("--layer-precision", layer_precision,
                 "Arithmetic of the generalizable models' fused inference layers (ibr, gnesf, gp-nerf: the linear "
                 "layers, not attention products or training): fp32 (default) or bf16 (inputs and weights rounded to "
                 "bfloat16; faster where the CPU's AVX512-BF16 is fast, e.g. AMD Zen 4; slower on Intel Xeons whose "
                 "bf16 dot product runs at half their float rate, e.g. Emerald Rapids, where the CLI warns; emulated "
                 "without AVX512-BF16; docs/generalizable.md)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.parse_complete_callback([&] {
    semfield::set_log_level(log_level);
    semfield::foundation::set_foundation_precision(semfield::parse_precision(precision));
    if (precision == "bf16" && !semfield::foundation::cpu_has_bf16())
      semfield::log::warn("--encoder-precision bf16: this CPU has no AVX512-BF16, so bf16 products are emulated "
                         "and slower than fp32");
    semfield::kernels::set_fused_layer_precision(semfield::parse_precision(layer_precision));
    if (layer_precision == "bf16" && !semfield::kernels::native_bf16_layers())
      semfield::log::warn("--layer-precision bf16: this build has no AVX512-BF16 (it targets the CPU it was built on), "
                         "so bf16 layers are emulated and slower than fp32");
    at::set_num_threads(threads);
    semfield::set_parallel_threads(threads);
    // Native bf16 is not faster everywhere: some CPUs with AVX512-BF16 (the Intel Emerald Rapids VMs) run its dot
    // product below their float FMA rate, and oneDNN's bf16 GEMM with it where no AMX is exposed. A measurement
    // (~5 ms for the layers, ~50 ms for the encoders' GEMM), only when bf16 is asked for, says so.
    if (precision == "bf16" && semfield::foundation::cpu_has_bf16())
      semfield::cli::warn_if_bf16_slower("--encoder-precision", "bf16 linear layers are slower than fp32",
                                         semfield::foundation::measure_linear_rates(), "G multiply-adds/s");
    if (layer_precision == "bf16" && semfield::kernels::native_bf16_layers())
      semfield::cli::warn_if_bf16_slower("--layer-precision", "the bf16 dot product runs below the float rate",
                                         semfield::kernels::measure_layer_rates(), "G multiply-adds/s per thread");
    // Training and rendering reuse the same large buffers every step; see caching_allocator.h.
    semfield::kernels::install_caching_cpu_allocator();
    at::set_num_interop_threads(1);
  });

  semfield::cli::add_info_command(app);
  semfield::cli::add_synth_command(app);
  semfield::cli::add_train_command(app);
  semfield::cli::add_render_command(app);
  semfield::cli::add_eval_command(app);
  semfield::cli::add_distill_command(app);
  semfield::cli::add_demo_command(app);
  semfield::cli::add_teacher_command(app);
  semfield::cli::add_segment_command(app);
  semfield::cli::add_query_command(app);
  semfield::cli::add_transfer_command(app);
  semfield::cli::add_eval_transfer_command(app);
  semfield::cli::add_mesh_command(app);
  semfield::cli::add_serve_command(app);
  semfield::cli::add_models_command(app);
  semfield::cli::add_apply_command(app);
  semfield::cli::add_train_corpus_command(app);
  semfield::cli::add_simulate_segmenter_command(app);
  semfield::cli::add_simulate_clip_command(app);
  semfield::cli::add_label_points_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const semfield::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: unexpected failure: %s\n", e.what());
    return 2;
  }
  return 0;
}
