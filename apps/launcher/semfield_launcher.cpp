// `semfield`: puts the thread and BLAS libraries' load-time settings into the environment (core/runtime_settings.h)
// and executes the command-line tool, `semfield-cli` in the same folder, with the same arguments. LibTorch is loaded
// once, by the CLI: without this launcher the CLI re-executed itself to apply the settings, loading LibTorch twice
// (~0.8 s per command, much of it the dynamic loader's relocations). Links neither LibTorch nor the semfield library.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dlfcn.h>
#include <unistd.h>

#include "semfield/core/runtime_settings.h"

namespace {

// The core OpenBLAS chooses on this CPU: LibTorch's BLAS (libblas.so.3, Debian's alternative; dlsym searches its
// dependency libopenblas.so.0 too) loaded here only to ask it; "" when it is missing or not OpenBLAS. The exec below
// discards it. Where this answer differs from what the CLI finds (mixed BLAS alternatives), the CLI re-executes once.
std::string blas_core() {
  void* blas = dlopen("libblas.so.3", RTLD_LAZY | RTLD_LOCAL);
  return blas != nullptr ? semfield::openblas_core_name(blas) : std::string();
}

// The folder this launcher lies in: from /proc/self/exe, else from argv[0] when it names a path (no /proc in a bare
// chroot); "" when neither tells (then the CLI is looked up on the PATH).
std::string own_folder(const char* argv0) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self));
  std::string path;
  if (n > 0 && n < static_cast<ssize_t>(sizeof(self)))
    path.assign(self, static_cast<size_t>(n));
  else if (argv0 != nullptr)
    path = argv0;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cli = own_folder(argc > 0 ? argv[0] : nullptr) + "semfield-cli";
  // OpenBLAS is asked only where its answer can matter (OPENBLAS_CORETYPE unset, a CPU with AVX2 + FMA).
  const bool ask_blas = std::getenv("OPENBLAS_CORETYPE") == nullptr && semfield::cpu_has_avx2_fma();
  semfield::set_runtime_settings(ask_blas ? blas_core() : std::string());
  if (cli.find('/') != std::string::npos)
    execv(cli.c_str(), argv);
  else
    execvp(cli.c_str(), argv);
  const int err = errno;
  std::fprintf(stderr, "semfield: cannot execute %s: %s (the launcher runs the CLI built or installed beside it)\n",
               cli.c_str(), std::strerror(err));
  return err == ENOENT ? 127 : 126;
}
