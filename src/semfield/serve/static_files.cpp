// Static file lookup over the embedded web files.
#include "semfield/serve/static_files.h"

#include "semfield/serve/embedded_files.h"

namespace semfield {

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::string content_type_for(std::string_view name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".png")) return "image/png";
  if (ends_with(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

std::optional<StaticFile> find_static_file(std::string_view request_path) {
  if (request_path.empty() || request_path.front() != '/') return std::nullopt;
  std::string_view name = request_path.substr(1);
  if (name.empty()) name = "index.html";
  // Only plain base names can match (the table holds no '/'), but refuse anything odd explicitly, so the
  // contract does not depend on what the table happens to hold.
  if (name.find_first_of("/\\%?#") != std::string_view::npos || name.front() == '.') return std::nullopt;
  for (const EmbeddedFile& file : embedded_files())
    if (file.name == name) return StaticFile{file.content, content_type_for(name)};
  return std::nullopt;
}

}  // namespace semfield
