// Logging setup.
#include "semfield/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "semfield/core/error.h"

namespace semfield {

void set_log_level(const std::string& level) {
  static const bool configured = [] {
    // spdlog's default logger writes to stdout; logs go to stderr so stdout stays clean for results
    // (e.g. `semfield info --json`).
    spdlog::set_default_logger(spdlog::stderr_color_mt("semfield"));
    spdlog::set_pattern("[semfield] %^%l%$: %v");
    return true;
  }();
  (void)configured;
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off")
    fail_usage("unknown log level '{}' (use debug, info, warn, error or off)", level);
  spdlog::set_level(parsed);
}

}  // namespace semfield
