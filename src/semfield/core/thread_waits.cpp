// Re-executing the process with the thread libraries' wait settings.
#include "semfield/core/thread_waits.h"

#include <cstdlib>
#include <utility>

#include <unistd.h>

namespace semfield {

void reexec_with_sleeping_thread_waits(char** argv) {
  bool set = false;
  for (const auto& [name, value] : {std::pair{"OMP_WAIT_POLICY", "PASSIVE"}, std::pair{"OPENBLAS_THREAD_TIMEOUT", "4"}})
    if (std::getenv(name) == nullptr && setenv(name, value, 1) == 0) set = true;
  if (set) execv("/proc/self/exe", argv);  // returns only on failure
}

}  // namespace semfield
