// Ctrl-C for long commands: the first SIGINT asks the running job to save and stop, a second exits at once.
#pragma once

#include <atomic>

namespace semfield::cli {

/// Installs the handler for its lifetime; flag() turns true on the first Ctrl-C.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  const std::atomic<bool>* flag() const;
};

}  // namespace semfield::cli
