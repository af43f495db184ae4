// Base64 against RFC 4648's test vectors.
#include "semfield/serve/base64.h"

#include <gtest/gtest.h>

namespace semfield {
namespace {

std::string encode(const std::string& text) {
  return base64_encode(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg==");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xff, 0xfe, 0x00}), "//4A");
}

}  // namespace
}  // namespace semfield
