// Shared helpers for semfield tests.
#include "support/test_support.h"

#include <ftw.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <utility>

#include "semfield/core/error.h"

namespace semfield::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  m_path = fs::temp_directory_path() /
           ("semfield_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(rd() % 100000));
  fs::create_directories(m_path);
}

TempDir::~TempDir() {
  // SEMFIELD_KEEP_TEST_DIRS=1 keeps a failing end-to-end test's files for a look.
  if (const char* keep = std::getenv("SEMFIELD_KEEP_TEST_DIRS"); keep != nullptr && std::string(keep) == "1") {
    std::fprintf(stderr, "kept %s\n", m_path.c_str());
    return;
  }
  remove_tree(m_path);
}

void remove_tree(const fs::path& path) {
  // POSIX's walk, not std::filesystem::remove_all: against PyTorch's wheel (scripts/cuda_check.sh) that call binds to
  // the copy libtorch.so exports and jumps to address 0.
  const auto remove_entry = [](const char* entry, const struct stat*, int, struct FTW*) {
    std::remove(entry);
    return 0;  // best effort: go on past what cannot be removed
  };
  ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void write_text(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("write_text: cannot write " + path.string());
}

CommandResult run_cli(const std::string& args) {
  CommandResult result;
  const std::string command = std::string("'") + SEMFIELD_CLI_PATH + "' " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("run_cli: popen failed");
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value) : m_name(std::move(name)) {
  if (const char* v = std::getenv(m_name.c_str())) m_saved = std::string(v);
  if (value)
    set(*value);
  else
    unset();
}

ScopedEnv::~ScopedEnv() {
  if (m_saved)
    set(*m_saved);
  else
    unset();
}

void ScopedEnv::set(const std::string& value) { ::setenv(m_name.c_str(), value.c_str(), 1); }

void ScopedEnv::unset() { ::unsetenv(m_name.c_str()); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("read_json: cannot open " + path.string());
  return nlohmann::json::parse(in);
}

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

fs::path shared_dir() {
  if (const char* env = std::getenv("SEMFIELD_SHARED_DIR"); env != nullptr && *env != '\0') return fs::path(env);
  return fs::path(SEMFIELD_SHARED_DIR);
}

bool shared_required() {
  const char* env = std::getenv("SEMFIELD_REQUIRE_SHARED");
  return env != nullptr && std::string(env) == "1";
}
fs::path test_data_dir() { return fs::path(SEMFIELD_TEST_DATA_DIR); }

}  // namespace semfield::test
