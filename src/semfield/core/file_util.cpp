// Whole-file reads and atomic writes.
#include "semfield/core/file_util.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "semfield/core/error.h"

namespace semfield {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail_input(path, "", "file not found");
  if (fs::is_directory(path, ec)) fail_input(path, "", "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, "", "cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) {
    // Not seekable (a pipe, e.g. the shell's <(...)): read to the end.
    in.clear();
    std::vector<uint8_t> streamed;
    char buffer[65536];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0)
      streamed.insert(streamed.end(), buffer, buffer + in.gcount());
    return streamed;
  }
  const auto size = static_cast<size_t>(end);
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(size);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    fail_input(path, "", "read failed");
  return bytes;
}

std::string read_file_text(const fs::path& path) {
  const auto bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& writer) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) fail_input(path, "", "cannot open for writing");
      writer(out);
      out.flush();
      if (!out) fail_input(path, "", "write failed (disk full?)");
    }
    fs::rename(tmp, path, ec);
    if (ec) fail_input(path, "", "cannot rename temporary file into place: {}", ec.message());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, const void* data, size_t size) {
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  });
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace semfield
