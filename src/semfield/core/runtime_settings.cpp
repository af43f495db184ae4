// Re-executing the process with the thread and BLAS libraries' load-time settings (runtime_settings.h).
#include "semfield/core/runtime_settings.h"

#include <array>
#include <cstdlib>
#include <utility>

#include <dlfcn.h>
#include <unistd.h>

namespace semfield {

namespace {

// OpenBLAS's core names (driver/others/dynamic.c's corename table) whose kernels use AVX-512 / at least AVX2 + FMA.
constexpr std::array<const char*, 3> kOpenblasAvx512Cores{"SkylakeX", "Cooperlake", "SapphireRapids"};
constexpr std::array<const char*, 6> kOpenblasAvx2Cores{"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
                                                        "Excavator"};
// Cores OpenBLAS falls back to (or detects on old CPUs) whose kernels use neither: replacing them is safe.
constexpr std::array<const char*, 16> kOpenblasOlderCores{
    "Prescott", "Core2",   "Penryn",    "Dunnington",  "Nehalem",  "Sandybridge", "Atom",     "Katmai",
    "Coppermine", "Northwood", "Banias", "Opteron", "Opteron_SSE3", "Barcelona", "Bulldozer", "Piledriver"};

template <size_t N>
bool blas_core_in(const std::array<const char*, N>& names, const std::string& name) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

}  // namespace

std::string openblas_coretype_override(const std::string& current, bool avx512, bool avx2_fma) {
  // Only a known older core is replaced: an unknown name may be a newer core than this table knows.
  if (!blas_core_in(kOpenblasOlderCores, current) && !blas_core_in(kOpenblasAvx2Cores, current)) return "";
  if (avx512 && !blas_core_in(kOpenblasAvx512Cores, current)) return "SkylakeX";
  if (avx2_fma && !blas_core_in(kOpenblasAvx2Cores, current)) return "Haswell";
  return "";
}

std::string openblas_core_name(void* library) {
  using CoreName = char* (*)();
  void* where = library != nullptr ? library : RTLD_DEFAULT;
  const auto fn = reinterpret_cast<CoreName>(dlsym(where, "openblas_get_corename"));
  const char* name = fn ? fn() : nullptr;
  return name ? std::string(name) : std::string();
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks include the OS's support (XCR0) for the registers.
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool set_runtime_settings(const std::string& blas_core) {
  bool set = false;
  for (const auto& [name, value] : {std::pair{"OMP_WAIT_POLICY", "PASSIVE"}, std::pair{"OPENBLAS_THREAD_TIMEOUT", "4"}})
    if (std::getenv(name) == nullptr && setenv(name, value, 1) == 0) set = true;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    const std::string core = openblas_coretype_override(blas_core, cpu_has_avx512(), cpu_has_avx2_fma());
    if (!core.empty() && setenv("OPENBLAS_CORETYPE", core.c_str(), 1) == 0) set = true;
  }
  return set;
}

void reexec_with_runtime_settings(char** argv) {
  if (set_runtime_settings(openblas_core_name())) execv("/proc/self/exe", argv);  // returns only on failure
}

}  // namespace semfield
