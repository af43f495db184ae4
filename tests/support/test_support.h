// Shared helpers for semfield tests: temp folders, running the CLI, paths to data.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace semfield::test {

/// Removes a file or folder tree, best effort (what cannot be removed stays; a missing path is no error).
void remove_tree(const std::filesystem::path& path);

/// A fresh, empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& name) const { return m_path / name; }

 private:
  std::filesystem::path m_path;
};

/// An environment variable set (a value) or unset (std::nullopt) for the scope's lifetime, then restored to what it
/// was before, however the test ends; set() / unset() change it again within the scope. Processes the test launches
/// inherit it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  void set(const std::string& value);
  void unset();

 private:
  std::string m_name;
  std::optional<std::string> m_saved;
};

/// Writes text to a file (creating folders).
void write_text(const std::filesystem::path& path, const std::string& text);

/// The message of the semfield::Error that `f` throws, or "<no error>".
std::string error_of(const std::function<void()>& f);

/// A JSON file's contents (throws on a missing or malformed file).
nlohmann::json read_json(const std::filesystem::path& path);

/// "'path'": a path as one shell word for run_cli.
std::string quoted(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};
/// Runs the semfield CLI with the given arguments (a shell-quoted string) and captures its output.
CommandResult run_cli(const std::string& args);

/// ../shared next to the repository (lego data, golden vectors), or $SEMFIELD_SHARED_DIR when set (a clone
/// elsewhere); may not exist on every machine.
std::filesystem::path shared_dir();
/// True when a test must fail rather than skip for a missing ../shared file: SEMFIELD_REQUIRE_SHARED=1, which
/// .ci/run sets.
bool shared_required();
/// tests/data in the repository.
std::filesystem::path test_data_dir();

}  // namespace semfield::test

/// Skips the test with a message when `file` (a file under shared_dir()) is missing, or fails it when
/// shared files are required (shared_required()).
#define SEMFIELD_REQUIRE_SHARED_FILE(file)                                                                 \
  do {                                                                                                     \
    const std::filesystem::path semfield_required_ = (file);                                               \
    if (!std::filesystem::exists(semfield_required_)) {                                                    \
      if (::semfield::test::shared_required())                                                             \
        FAIL() << semfield_required_ << " is missing and SEMFIELD_REQUIRE_SHARED=1";                       \
      GTEST_SKIP() << "no " << semfield_required_ << " (set SEMFIELD_SHARED_DIR to the shared folder)";     \
    }                                                                                                      \
  } while (0)

