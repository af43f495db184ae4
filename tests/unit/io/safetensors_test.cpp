// Tests for .safetensors read/write: round trips, exact bytes, and every header rejection with its message.
#include "semfield/io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "support/test_support.h"

using namespace semfield;
using semfield::test::TempDir;
using ::testing::HasSubstr;

namespace {

std::string le64(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// A file with the given header JSON (unpadded) and data section.
std::string st_file(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

std::string safetensors_error(const std::string& bytes, const std::string& origin = "m.safetensors") {
  try {
    parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), origin);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

// A single-tensor header with the given dtype, shape and offsets JSON.
std::string one(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"t":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
}

Array patterned(DType dtype, std::vector<int64_t> shape, int seed) {
  Array a = Array::zeros(dtype, std::move(shape));
  for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>(i * 31 + seed);
  if (dtype == DType::Bool)
    for (size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<uint8_t>((i + seed) % 2);
  return a;
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  SafetensorsFile file;
  const DType dtypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                          DType::I16, DType::I8,  DType::U8,  DType::U16,  DType::Bool};
  int seed = 0;
  for (const DType d : dtypes) file.tensors["w." + dtype_name(d)] = patterned(d, {2, 3}, ++seed);
  file.tensors["scalar"] = patterned(DType::F32, {}, 5);
  file.tensors["empty"] = Array::zeros(DType::I64, {0, 4});
  file.metadata = {{"format", "pt"}, {"step", "1200"}};
  const auto path = dir / "m.safetensors";
  write_safetensors(path, file);
  const SafetensorsFile back = read_safetensors(path);
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (const auto& [name, a] : file.tensors) {
    const Array& b = back.tensors.at(name);
    EXPECT_EQ(b.dtype, a.dtype) << name;
    EXPECT_EQ(b.shape, a.shape) << name;
    EXPECT_EQ(b.data, a.data) << name;
  }
  // The header is padded to a multiple of 8 bytes.
  const auto bytes = read_file_bytes(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
}

TEST(Safetensors, SerializeMatchesHandBuiltBytes) {
  SafetensorsFile file;
  file.tensors["b"] = Array::zeros(DType::U8, {3});
  file.tensors["b"].data = {7, 8, 9};
  file.tensors["a"] = Array::from_float({2}, {1.0f, 2.0f});
  // Names in sorted order, offsets contiguous; 107 bytes of JSON padded with 5 spaces to 112.
  const std::string json =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  ASSERT_EQ(json.size(), 107u);
  const std::string expected = le64(112) + json + "     " + std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8) +
                               "\x07\x08\x09";
  const auto bytes = serialize_safetensors(file);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), expected);

  // Metadata comes first.
  file.metadata["format"] = "pt";
  const auto with_meta = serialize_safetensors(file);
  EXPECT_EQ(std::string(with_meta.begin() + 8, with_meta.begin() + 8 + 31), R"({"__metadata__":{"format":"pt"})");
}

TEST(Safetensors, ParsesHandBuiltFile) {
  // Keys in another order, extra whitespace, data not in name order, a gap between tensors.
  const std::string header =
      R"( { "z": {"data_offsets": [0, 4], "shape": [2], "dtype": "BF16"},
            "__metadata__": {"k": "v"},
            "a": {"shape": [], "dtype": "I32", "data_offsets": [6, 10]},
            "e": {"shape": [0], "dtype": "F64", "data_offsets": [4, 4]} } )";
  const std::string data = std::string("\x80\x3f\x00\x40", 4) + "xx" + std::string("\xff\xff\xff\xff", 4);
  const std::string bytes = st_file(header, data);
  const auto f = parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "h.st");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.metadata.at("k"), "v");
  EXPECT_EQ(f.tensors.at("z").dtype, DType::BF16);
  EXPECT_EQ(f.tensors.at("z").to_float(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(f.tensors.at("a").shape, std::vector<int64_t>{});
  EXPECT_EQ(f.tensors.at("a").to_int64(), (std::vector<int64_t>{-1}));
  EXPECT_EQ(f.tensors.at("e").numel(), 0);
}

TEST(Safetensors, RejectsBadHeaderLength) {
  EXPECT_THAT(safetensors_error("abc"), HasSubstr("m.safetensors: header: truncated file (3 bytes"));
  EXPECT_THAT(safetensors_error(le64(100) + "{}"),
              HasSubstr("m.safetensors: header: header length 100 is larger than the rest of the file (2 bytes"));
  EXPECT_THAT(safetensors_error(le64(200000000) + "{}"), HasSubstr("m.safetensors: header: header length 200000000 is "
                                                             "larger than the 100 MB limit"));
  EXPECT_THAT(safetensors_error(le64(~uint64_t{0}) + "{}"), HasSubstr("100 MB limit"));
}

TEST(Safetensors, RejectsBadJson) {
  EXPECT_THAT(safetensors_error(st_file("{\"t\": ", "")), HasSubstr("m.safetensors: malformed JSON"));
  EXPECT_THAT(safetensors_error(st_file("[1, 2]", "")), HasSubstr("m.safetensors: (root): expected the header to be"));
  EXPECT_THAT(safetensors_error(st_file(R"({"t": 3})", "")), HasSubstr("m.safetensors: t: expected a tensor entry"));
  EXPECT_THAT(safetensors_error(st_file(R"({"t":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", "abcd")),
              HasSubstr("m.safetensors: t.x: unknown key"));
  EXPECT_THAT(safetensors_error(st_file(R"({"t":{"dtype":"F32","shape":[]}})", "abcd")),
              HasSubstr("m.safetensors: t.data_offsets: missing required key"));
  EXPECT_THAT(safetensors_error(st_file(R"({"__metadata__":{"k":1}})", "")),
              HasSubstr("m.safetensors: __metadata__.k: expected a string"));
  EXPECT_THAT(safetensors_error(st_file(R"({"__metadata__":[1]})", "")),
              HasSubstr("m.safetensors: __metadata__: expected an object of strings"));
}

TEST(Safetensors, RejectsBadDtypeShapeAndOffsets) {
  EXPECT_THAT(safetensors_error(st_file(one("U32", "[1]", "[0,4]"), "abcd")),
              HasSubstr("m.safetensors: t.dtype: unsupported dtype 'U32'"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[2,-1]", "[0,4]"), "abcd")),
              HasSubstr("m.safetensors: t.shape[1]: negative dimension -1"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[1.5]", "[0,4]"), "abcd")),
              HasSubstr("m.safetensors: t.shape[0]: expected an integer"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[1]", "[0,4,8]"), "abcd")),
              HasSubstr("m.safetensors: t.data_offsets: expected [begin, end], got 3 entries"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[1]", "[4,0]"), "abcd")),
              HasSubstr("m.safetensors: t.data_offsets: invalid range [4, 0]"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[1]", "[-4,0]"), "abcd")), HasSubstr("invalid range [-4, 0]"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[2]", "[0,8]"), "abcd")),
              HasSubstr("m.safetensors: t.data_offsets: range [0, 8] runs past the data section (4 bytes"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[2]", "[0,4]"), "abcd")),
              HasSubstr("m.safetensors: t.data_offsets: range [0, 4] holds 4 bytes but shape [2] of F32 needs 8"));
  // Dimensions whose product overflows 64 bits must not wrap around to a matching size.
  EXPECT_THAT(safetensors_error(st_file(one("U8", "[4294967296,4294967296,1]", "[0,0]"), "")),
              HasSubstr("needs more than 2^64"));
  EXPECT_THAT(safetensors_error(st_file(one("I64", "[2305843009213693952, 8]", "[0,0]"), "")),
              HasSubstr("needs more than 2^64"));
  EXPECT_THAT(safetensors_error(st_file(one("F32", "[1]", "[0,18446744073709551615]"), "abcd")),
              HasSubstr("t.data_offsets"));
}

TEST(Safetensors, RejectsOverlappingTensors) {
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})";
  EXPECT_THAT(safetensors_error(st_file(header, "abcdef")),
              HasSubstr("m.safetensors: b.data_offsets: range [3, 5] overlaps tensor 'a' [0, 4]"));
  // An empty tensor between two overlapping ones does not hide the overlap.
  const std::string hidden =
      R"({"a":{"dtype":"U8","shape":[6],"data_offsets":[0,6]},"e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]},)"
      R"("c":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}})";
  EXPECT_THAT(safetensors_error(st_file(hidden, "abcdef")), HasSubstr("c.data_offsets: range [4, 5] overlaps tensor 'a'"));
  // Two names for the same bytes overlap too.
  const std::string alias =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  EXPECT_THAT(safetensors_error(st_file(alias, "ab")), HasSubstr("overlaps tensor"));
}

TEST(Safetensors, ReadNamesTheFileAndWriteRejectsReservedName) {
  TempDir dir;
  const auto path = dir / "trunc.safetensors";
  SafetensorsFile file;
  file.tensors["w"] = Array::from_float({4}, {1, 2, 3, 4});
  auto bytes = serialize_safetensors(file);
  bytes.resize(bytes.size() - 1);
  write_file_atomic(path, bytes.data(), bytes.size());
  try {
    read_safetensors(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": w.data_offsets: range [0, 16] runs past the data section"));
  }
  SafetensorsFile reserved;
  reserved.tensors["__metadata__"] = Array::zeros(DType::U8, {1});
  EXPECT_THROW(serialize_safetensors(reserved), UsageError);
}

}  // namespace
