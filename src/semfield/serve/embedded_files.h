// The viewer's web files (web/*.html, *.js, *.css) compiled into the library by cmake/embed_files.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace semfield {

struct EmbeddedFile {
  std::string_view name;     ///< base name in web/ ("index.html")
  std::string_view content;  ///< the file's bytes, exactly
};

/// Every embedded file, sorted by name (defined in the generated source build/src/generated/web_files.cpp).
const std::vector<EmbeddedFile>& embedded_files();

}  // namespace semfield
