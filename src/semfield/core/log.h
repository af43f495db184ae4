// Logging: a thin wrapper so the library logs through one spdlog logger (stderr, "[semfield] level: ...").
#pragma once

#include <spdlog/spdlog.h>

namespace semfield {

/// Sets the global log level from a name ("debug", "info", "warn", "error", "off"); unknown -> UsageError.
void set_log_level(const std::string& level);

namespace log {
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;
}  // namespace log

}  // namespace semfield
