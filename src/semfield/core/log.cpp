// Logging setup.
#include "semfield/core/log.h"

#include "semfield/core/error.h"

namespace semfield {

void set_log_level(const std::string& level) {
  static const bool configured = [] {
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
