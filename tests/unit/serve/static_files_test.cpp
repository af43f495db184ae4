// The embedded page: served by exact name only, with the right content types; nothing else is reachable.
#include "semfield/serve/static_files.h"

#include <gtest/gtest.h>

#include "semfield/serve/embedded_files.h"

namespace semfield {
namespace {

TEST(StaticFiles, ServesTheEmbeddedPage) {
  const auto index = find_static_file("/");
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->content.find("viewer.js"), std::string_view::npos);
  const auto same = find_static_file("/index.html");
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->content, index->content);
  const auto js = find_static_file("/viewer.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js->content.find("/api/frame"), std::string_view::npos);
  ASSERT_TRUE(find_static_file("/viewer.css").has_value());
  // The embedded bytes are the file's bytes: no terminator or padding counted in.
  for (const EmbeddedFile& file : embedded_files()) {
    ASSERT_FALSE(file.content.empty()) << file.name;
    EXPECT_NE(file.content.back(), '\0') << file.name;
  }
}

TEST(StaticFiles, UnknownAndTraversalPathsAreNotFound) {
  for (const char* path : {"", "index.html", "/nope.html", "/../index.html", "/../../etc/passwd", "/%2e%2e/etc/passwd",
                           "/..%2findex.html", "/web/index.html", "/./index.html", "/index.html/", "//index.html",
                           "/index.html?x=1", "/.hidden", "/..", "/.", "/\\index.html", "/etc/passwd",
                           "/index.html%00", "/api"}) {
    EXPECT_FALSE(find_static_file(path).has_value()) << path;
  }
}

TEST(StaticFiles, ContentTypes) {
  EXPECT_EQ(content_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("a.png"), "image/png");
  EXPECT_EQ(content_type_for("a"), "application/octet-stream");
}

}  // namespace
}  // namespace semfield
