// The viewer's static content: maps a request path to one of the embedded web files. Lookups are exact
// matches against a fixed table, so no path (../, %2e%2e, absolute, encoded) can reach the filesystem.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace semfield {

struct StaticFile {
  std::string_view content;
  std::string content_type;  ///< "text/html; charset=utf-8", "text/javascript; charset=utf-8", ...
};

/// "/" -> index.html; "/<name>" -> the embedded file of that exact base name; anything else (sub-folders,
/// dot segments, percent escapes, query strings, empty names) -> nullopt (the server answers 404).
std::optional<StaticFile> find_static_file(std::string_view request_path);

/// Content type for a file name by its extension (application/octet-stream when unknown).
std::string content_type_for(std::string_view name);

}  // namespace semfield
