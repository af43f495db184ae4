// Typed errors for user-facing failures: every message says what went wrong and where (file, key, line).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace semfield {

/// Base of every error semfield reports to a user. The CLI prints `error: <what()>` and exits 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad input data: a missing or malformed file, a wrong key, a non-finite value, a mis-shaped tensor.
/// Message form: "<file>: <field>: <problem>" (field may be empty).
class InputError : public Error {
 public:
  InputError(const std::filesystem::path& file, const std::string& field, const std::string& problem)
      : Error(compose(file, field, problem)) {}
  explicit InputError(const std::string& message) : Error(message) {}

 private:
  static std::string compose(const std::filesystem::path& file, const std::string& field,
                             const std::string& problem) {
    std::string out = file.string();
    if (!field.empty()) out += ": " + field;
    return out + ": " + problem;
  }
};

/// Bad command-line usage or option value (an unknown view name, a click outside the image, ...).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// Throws InputError(file, field, formatted message).
template <typename... Args>
[[noreturn]] void fail_input(const std::filesystem::path& file, const std::string& field,
                             fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(file, field, fmt::format(format, std::forward<Args>(args)...));
}

/// Throws UsageError(formatted message).
template <typename... Args>
[[noreturn]] void fail_usage(fmt::format_string<Args...> format, Args&&... args) {
  throw UsageError(fmt::format(format, std::forward<Args>(args)...));
}

/// Runs `validate` (which throws UsageError for a value out of range) on a config read from `file`: its error becomes
/// an InputError naming the file and `field`.
template <typename F>
void validate_config(const std::filesystem::path& file, const std::string& field, F&& validate) {
  try {
    validate();
  } catch (const UsageError& e) {
    throw InputError(file, field, e.what());
  }
}

/// Internal invariant check (a programmer error, not a user one): throws std::logic_error with location.
#define SEMFIELD_ASSERT(cond, msg)                                                              \
  do {                                                                                          \
    if (!(cond))                                                                                \
      throw std::logic_error(fmt::format("internal error at {}:{}: {} ({})", __FILE__, __LINE__, \
                                         msg, #cond));                                          \
  } while (0)

}  // namespace semfield
