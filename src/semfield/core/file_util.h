// Whole-file reads and atomic writes (temp file + rename), so a crash never leaves a half-written output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace semfield {

/// Reads a whole file; throws InputError(path, "", "cannot open ...") if it is missing or unreadable.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_file_text(const std::filesystem::path& path);

/// Writes through `writer` into `<path>.tmp.<pid>` in the same folder, flushes, then renames over `path`.
/// Creates parent folders. On any failure the temp file is removed and `path` is left untouched.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& writer);
void write_file_atomic(const std::filesystem::path& path, const void* data, size_t size);
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace semfield
