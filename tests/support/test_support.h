// Shared helpers for semfield tests: temp folders, running the CLI, paths to data.
#pragma once

#include <filesystem>
#include <string>

namespace semfield::test {

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

/// Writes text to a file (creating folders).
void write_text(const std::filesystem::path& path, const std::string& text);

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};
/// Runs the semfield CLI with the given arguments (a shell-quoted string) and captures its output.
CommandResult run_cli(const std::string& args);

/// ../shared next to the repository (lego data, golden vectors); may not exist on every machine.
std::filesystem::path shared_dir();
/// tests/data in the repository.
std::filesystem::path test_data_dir();

}  // namespace semfield::test
