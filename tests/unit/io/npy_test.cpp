// Tests for .npy read/write: round trips of every dtype, exact bytes, and every rejection with its message.
#include "semfield/io/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "support/test_support.h"

using namespace semfield;
using semfield::test::TempDir;
using ::testing::HasSubstr;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// A .npy file with the given header dict text, padded NumPy-style, followed by `payload`.
std::string npy_file(const std::string& dict, const std::string& payload, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + payload;
}

std::string npy_error(const std::string& file_bytes, const std::string& origin = "in.npy") {
  try {
    const auto b = bytes_of(file_bytes);
    parse_npy(b.data(), b.size(), origin);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

Array patterned(DType dtype, std::vector<int64_t> shape) {
  Array a = Array::zeros(dtype, std::move(shape));
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 37 + 11);
  if (dtype == DType::Bool)
    for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i % 3 == 0);
  return a;
}

TEST(Npy, RoundTripsEveryDtypeAndShape) {
  TempDir dir;
  const DType dtypes[] = {DType::F32, DType::F16, DType::F64, DType::U8,  DType::I8,
                          DType::U16, DType::I16, DType::I32, DType::I64, DType::Bool};
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {0, 3}, {5}, {2, 3}, {2, 1, 4}};
  for (const DType dtype : dtypes) {
    for (const auto& shape : shapes) {
      const Array a = patterned(dtype, shape);
      const auto path = dir / ("a_" + dtype_name(dtype) + "_" + std::to_string(shape.size()) + ".npy");
      write_npy(path, a);
      const Array b = read_npy(path);
      EXPECT_EQ(b.dtype, dtype) << dtype_name(dtype);
      EXPECT_EQ(b.shape, shape) << dtype_name(dtype);
      EXPECT_EQ(b.data, a.data) << dtype_name(dtype);
      // NumPy's alignment rule: the data starts at a multiple of 64.
      EXPECT_EQ((std::filesystem::file_size(path) - a.data.size()) % 64, 0u);
    }
  }
}

TEST(Npy, SerializeMatchesHandBuiltBytes) {
  const Array a = Array::from_float({2, 3}, {1, 2, 3, 4, 5, 6});
  // Header dict is 59 characters; 10 + 59 + 1 (newline) rounds up to 128, so 58 spaces of padding and a
  // header length of 118 (0x76).
  std::string expected("\x93NUMPY\x01\x00\x76\x00", 10);
  expected += "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  expected += std::string(58, ' ') + "\n";
  expected.append(reinterpret_cast<const char*>(a.data.data()), a.data.size());
  EXPECT_EQ(serialize_npy(a), bytes_of(expected));

  // 0-d and 1-d shapes use Python tuple syntax: () and (3,).
  const auto scalar = serialize_npy(Array::zeros(DType::I64, {}));
  EXPECT_THAT(std::string(scalar.begin(), scalar.end()), HasSubstr("'descr': '<i8'"));
  EXPECT_THAT(std::string(scalar.begin(), scalar.end()), HasSubstr("'shape': (), }"));
  const auto vec = serialize_npy(Array::zeros(DType::U8, {3}));
  EXPECT_THAT(std::string(vec.begin(), vec.end()), HasSubstr("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }"));
  // 10 + 57 + 1 bytes round up to 128.
  EXPECT_EQ(vec.size(), 128u + 3u);
  EXPECT_EQ(vec[127], '\n');
  EXPECT_EQ(vec[8], 118);
}

TEST(Npy, ParsesHandBuiltFilesInEveryVersion) {
  const float values[3] = {1.5f, -2.0f, 8.0f};
  const std::string payload(reinterpret_cast<const char*>(values), sizeof values);
  for (int major = 1; major <= 3; ++major) {
    const auto file = bytes_of(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", payload, major));
    const Array a = parse_npy(file.data(), file.size(), "v.npy");
    EXPECT_EQ(a.dtype, DType::F32);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(a.to_float(), (std::vector<float>{1.5f, -2.0f, 8.0f}));
  }
  // Other spellings NumPy accepts: double quotes, no trailing comma, '=' byte order, Python 2 longs, key
  // order, and a Fortran-order flag on a 1-d array (same bytes as C order).
  const auto other = bytes_of(npy_file(R"({"shape": (3L,), "fortran_order": True, "descr": "=f4"})", payload));
  const Array b = parse_npy(other.data(), other.size(), "v.npy");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(b.to_float()[2], 8.0f);
  // One-byte types ignore byte order, and bool is |b1.
  const auto boolean = bytes_of(npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 1), }",
                                       std::string("\x01\x00", 2)));
  const Array c = parse_npy(boolean.data(), boolean.size(), "v.npy");
  EXPECT_EQ(c.dtype, DType::Bool);
  EXPECT_EQ(c.shape, (std::vector<int64_t>{2, 1}));
  // A huge dimension next to a zero one is still an empty array.
  const auto empty =
      bytes_of(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9223372036854775807), }", ""));
  EXPECT_EQ(parse_npy(empty.data(), empty.size(), "v.npy").numel(), 0);
}

TEST(Npy, RejectsBadMagicAndVersion) {
  EXPECT_THAT(npy_error("PK\x03\x04 not numpy"), HasSubstr("in.npy: magic: not a .npy file"));
  EXPECT_THAT(npy_error(""), HasSubstr("in.npy: magic:"));
  std::string v4 = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd");
  v4[6] = 4;
  EXPECT_THAT(npy_error(v4), HasSubstr("in.npy: version: unsupported .npy format version 4.0"));
  EXPECT_THAT(npy_error(std::string("\x93NUMPY\x01\x00\x05", 9)), HasSubstr("in.npy: header: truncated"));
  EXPECT_THAT(npy_error(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17)),
              HasSubstr("in.npy: header: header length 255 runs past the end of the file"));
}

TEST(Npy, RejectsMalformedHeaders) {
  EXPECT_THAT(npy_error(npy_file("['descr', '<f4']", "")), HasSubstr("in.npy: header: expected '{'"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "abcd")),
              HasSubstr("in.npy: header: unexpected end of header dictionary"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "abcd")),
              HasSubstr("in.npy: header.x: unknown key"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False}", "abcd")),
              HasSubstr("in.npy: header.shape: missing required key"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "abcd")),
              HasSubstr("in.npy: header.descr: duplicate key"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "abcd")),
              HasSubstr("in.npy: header.fortran_order: expected True or False"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", "")),
              HasSubstr("in.npy: header.shape: expected an integer"));
  EXPECT_THAT(npy_error(npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "abcd")),
              HasSubstr("in.npy: header.descr: unsupported dtype"));
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk", "abcd")),
              HasSubstr("in.npy: header: unexpected text after the dictionary"));
}

TEST(Npy, RejectsUnsupportedDtypes) {
  const auto with_descr = [](const std::string& descr) {
    return npy_file("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }", "abcdefgh");
  };
  EXPECT_THAT(npy_error(with_descr(">f4")), HasSubstr("in.npy: header.descr: unsupported dtype '>f4' (big-endian)"));
  EXPECT_THAT(npy_error(with_descr(">i8")), HasSubstr("(big-endian)"));
  EXPECT_THAT(npy_error(with_descr("|O")), HasSubstr("in.npy: header.descr: unsupported dtype '|O' (object"));
  EXPECT_THAT(npy_error(with_descr("<c8")), HasSubstr("in.npy: header.descr: unsupported dtype '<c8'"));
  EXPECT_THAT(npy_error(with_descr("<u4")), HasSubstr("unsupported dtype '<u4'"));
  EXPECT_THAT(npy_error(with_descr("<U3")), HasSubstr("unsupported dtype '<U3'"));
  EXPECT_THAT(npy_error(with_descr("f4")), HasSubstr("unsupported dtype 'f4'"));
}

TEST(Npy, RejectsFortranOrder) {
  EXPECT_THAT(npy_error(npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", "abcdefgh")),
              HasSubstr("in.npy: header.fortran_order: Fortran-order arrays are not supported"));
}

TEST(Npy, RejectsBadShapesAndSizes) {
  const auto with_shape = [](const std::string& shape, const std::string& payload) {
    return npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }", payload);
  };
  EXPECT_THAT(npy_error(with_shape("(2, -1)", "")), HasSubstr("in.npy: header.shape: dimension 1 is negative"));
  EXPECT_THAT(npy_error(with_shape("(99999999999999999999,)", "")),
              HasSubstr("in.npy: header.shape: dimension 0 is too large"));
  // Each dimension fits int64 but the byte count overflows 64 bits.
  EXPECT_THAT(npy_error(with_shape("(4294967296, 4294967296, 16)", "abcd")),
              HasSubstr("in.npy: data: truncated data: shape (4294967296, 4294967296, 16) of <f4 needs more than 2^64"));
  EXPECT_THAT(npy_error(with_shape("(3,)", "abcdefgh")),
              HasSubstr("in.npy: data: truncated data: shape (3) of <f4 needs 12 bytes, file has 8"));
  EXPECT_THAT(npy_error(with_shape("(1,)", "abcdefgh")),
              HasSubstr("in.npy: data: size mismatch: shape (1) of <f4 needs 4 bytes, file has 8"));
  EXPECT_THAT(npy_error(with_shape("()", "")), HasSubstr("in.npy: data: truncated data"));
}

TEST(Npy, ReadNamesTheFileAndWriteRejectsBf16) {
  TempDir dir;
  try {
    read_npy(dir / "missing.npy");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.npy"));
  }
  const auto path = dir / "trunc.npy";
  auto bytes = serialize_npy(Array::from_float({4}, {1, 2, 3, 4}));
  bytes.resize(bytes.size() - 3);
  write_file_atomic(path, bytes.data(), bytes.size());
  try {
    read_npy(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": data: truncated data"));
  }
  EXPECT_THROW(write_npy(dir / "bf.npy", Array::zeros(DType::BF16, {2})), UsageError);
  EXPECT_FALSE(std::filesystem::exists(dir / "bf.npy"));
}

}  // namespace
