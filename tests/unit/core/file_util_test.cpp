// Reading whole files: regular files, and streams that cannot seek (a FIFO, as the shell's <(...) gives).
#include "semfield/core/file_util.h"

#include <sys/stat.h>

#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_support.h"

namespace semfield {
namespace {

TEST(FileUtil, ReadsRegularFilesAndPipes) {
  test::TempDir dir;
  const std::string text(100000, 'x');
  write_file_atomic(dir / "a.txt", text);
  EXPECT_EQ(read_file_text(dir / "a.txt"), text);
  const std::filesystem::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << text << "end"; });
  const std::vector<uint8_t> bytes = read_file_bytes(fifo);
  writer.join();
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), text + "end");
  EXPECT_THROW(read_file_bytes(dir / "missing"), InputError);
}

TEST(TestSupport, TempDirRemovesItsTreeWithoutFollowingLinks) {
  test::TempDir outside;
  test::write_text(outside / "keep.txt", "kept");
  std::filesystem::path path;
  {
    test::TempDir dir;
    path = dir.path();
    test::write_text(dir / "a" / "b" / "c.txt", "x");
    test::write_text(dir / "d.txt", "y");
    std::filesystem::create_directory_symlink(outside.path(), dir / "a" / "link");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(read_file_text(outside / "keep.txt"), "kept");  // the link was removed, not what it points to
  test::remove_tree(outside / "missing");                   // nothing there: no error
}

}  // namespace
}  // namespace semfield
