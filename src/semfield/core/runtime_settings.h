// Settings the thread and BLAS libraries read only when they load: programs call reexec_with_runtime_settings first
// thing in main(), and it re-executes the process once with them in the environment.
#pragma once

#include <string>

namespace semfield {

/// Sets, unless the user chose otherwise in the environment, and re-executes the process (/proc/self/exe, same argv)
/// once when anything was set; returns when nothing needed setting or the re-exec failed (then the defaults apply):
///   OMP_WAIT_POLICY=PASSIVE   GNU OpenMP (LibTorch's ops, parallel_for) spins after every parallel region by
///                             default; on 2 cores shared with anything else a distillation step measured 3x slower;
///   OPENBLAS_THREAD_TIMEOUT=4 OpenBLAS's workers spin (sched_yield) for 2^28 cycles, ~0.1 s, after every GEMM by
///                             default, taking a core from the OpenMP thread or the caller's next op: SAM's decoder on
///                             a rendered embedding 97 -> 73 ms, a weight-free click 38 -> 30 ms on a 2-core VM;
///   OPENBLAS_CORETYPE         only where OpenBLAS does not know the CPU and would fall back to its generic SSE3
///                             kernels (openblas_coretype_override): Debian 12's OpenBLAS 0.3.21 runs "Prescott" GEMMs
///                             on an Intel Emerald Rapids (family 6, model 207), 4x slower than its AVX-512 ones.
/// A dedicated machine may prefer OMP_WAIT_POLICY=ACTIVE. The `semfield` command is a launcher
/// (apps/launcher/semfield_launcher.cpp) that sets them before the CLI (`semfield-cli`) and LibTorch load, so the
/// CLI's call finds nothing to set and does not re-execute (loading LibTorch twice cost ~0.8 s per command).
void reexec_with_runtime_settings(char** argv);

/// The settings above, each unless the environment has it already, OPENBLAS_CORETYPE from `blas_core` (the core
/// OpenBLAS chose, "" when unknown or not OpenBLAS); true when any was set.
bool set_runtime_settings(const std::string& blas_core);

/// The OPENBLAS_CORETYPE to force, or "" to keep OpenBLAS's choice: given the core OpenBLAS chose (`current`, its
/// openblas_get_corename(): "Prescott", "SkylakeX", ...) and what the CPU and OS support, "SkylakeX" where AVX-512
/// (F, CD, BW, DQ, VL) is usable and OpenBLAS chose no AVX-512 core, else "Haswell" where AVX2 + FMA is usable and it
/// chose no AVX2 core; "" for a core it already matched well, for an unknown name and on other CPUs.
std::string openblas_coretype_override(const std::string& current, bool avx512, bool avx2_fma);

/// The core OpenBLAS runs in this process ("" when LibTorch's BLAS is not OpenBLAS), for logs and tests; with a
/// dlopen handle, the core of that library and its dependencies (the launcher's question to libblas.so.3).
std::string openblas_core_name(void* library = nullptr);

/// Whether this CPU and OS can run AVX-512 (F, CD, BW, DQ, VL) / AVX2 + FMA code.
bool cpu_has_avx512();
bool cpu_has_avx2_fma();

}  // namespace semfield
