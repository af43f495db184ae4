// Tests for checkpoint files: round trips of every dtype, the on-disk layout, and clear errors for
// truncated, corrupted, foreign and mismatched files.
#include "semfield/io/checkpoint.h"

#include <sys/resource.h>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "semfield/core/crc32.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using semfield::Checkpoint;
using semfield::InputError;
using semfield::load_checkpoint;
using semfield::save_checkpoint;
using semfield::test::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string load_error(const fs::path& path, const std::string& expected_kind = "") {
  try {
    load_checkpoint(path, expected_kind);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

std::vector<uint8_t> read_bytes(const fs::path& path) { return semfield::read_file_bytes(path); }

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  return v;
}
uint32_t le32(const std::vector<uint8_t>& b, size_t at) { return static_cast<uint32_t>(le64(b, at) & 0xffffffffu); }
void put_le(std::vector<uint8_t>& b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

/// Bitwise equality (NaNs included) of dtype, shape and contents.
void expect_same_tensor(const at::Tensor& expected, const at::Tensor& actual, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_TRUE(actual.defined());
  EXPECT_EQ(actual.scalar_type(), expected.scalar_type());
  EXPECT_EQ(actual.sizes().vec(), expected.sizes().vec());
  EXPECT_TRUE(actual.is_contiguous());
  EXPECT_EQ(actual.device().type(), at::kCPU);
  const at::Tensor e = expected.contiguous();
  ASSERT_EQ(actual.numel(), e.numel());
  if (e.numel() > 0) {
    EXPECT_EQ(std::memcmp(actual.data_ptr(), e.data_ptr(), static_cast<size_t>(e.nbytes())), 0);
  }
}

at::Tensor sample_tensor(at::ScalarType dtype, at::IntArrayRef shape) {
  if (dtype == at::kBool) return at::randint(0, 2, shape, at::kLong).to(at::kBool);
  if (at::isIntegralType(dtype, false)) {
    const bool is_unsigned = dtype == at::kByte;
    return at::randint(is_unsigned ? 0 : -100, 100, shape, at::kLong).to(dtype);
  }
  return at::randn(shape, at::kDouble).to(dtype);
}

const std::vector<at::ScalarType> kAllDTypes = {at::kFloat, at::kHalf,  at::kBFloat16, at::kDouble, at::kLong,
                                                at::kInt,   at::kShort, at::kChar,     at::kByte,   at::kBool};

Checkpoint small_checkpoint() {
  Checkpoint ck;
  ck.kind = "radiance_field";
  ck.metadata = {{"step", 7}};
  ck.tensors["a"] = at::arange(6, at::kFloat).reshape({2, 3});
  ck.tensors["b"] = at::tensor({1, 2, 3}, at::kLong);
  return ck;
}

/// Writes a checkpoint byte by byte from its documented layout, independently of save_checkpoint.
std::vector<uint8_t> handmade_checkpoint(const std::string& json, const std::vector<uint8_t>& data,
                                         uint32_t version = 1) {
  const size_t data_start = (40 + json.size() + 63) / 64 * 64;
  std::vector<uint8_t> bytes(data_start + data.size(), 0);
  std::memcpy(bytes.data(), "SEMFCKPT", 8);
  put_le(bytes, 32, json.size(), 8);
  std::copy(json.begin(), json.end(), bytes.begin() + 40);
  std::copy(data.begin(), data.end(), bytes.begin() + static_cast<long>(data_start));
  put_le(bytes, 8, version, 4);
  put_le(bytes, 16, bytes.size() - 32, 8);
  put_le(bytes, 24, semfield::crc32(bytes.data() + 32, bytes.size() - 32), 4);
  return bytes;
}

std::vector<fs::path> temp_files_in(const fs::path& folder) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(entry.path());
  return out;
}

TEST(Crc32, KnownValuesAndChaining) {
  const std::string text = "123456789";
  EXPECT_EQ(semfield::crc32(text.data(), text.size()), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(semfield::crc32(nullptr, 0), 0u);
  const uint32_t first = semfield::crc32(text.data(), 4);
  EXPECT_EQ(semfield::crc32(text.data() + 4, text.size() - 4, first), 0xCBF43926u);
}

TEST(Checkpoint, RoundTripsEveryDtypeIncludingScalarsAndEmptyTensors) {
  at::manual_seed(3);
  TempDir dir;
  Checkpoint ck;
  ck.kind = "feature_field";
  for (const auto dtype : kAllDTypes) {
    const std::string name = c10::toString(dtype);
    ck.tensors[name + "_scalar"] = sample_tensor(dtype, {});
    ck.tensors[name + "_empty"] = sample_tensor(dtype, {0});
    ck.tensors[name + "_empty2d"] = sample_tensor(dtype, {3, 0});
    ck.tensors[name + "_vector"] = sample_tensor(dtype, {5});
    ck.tensors[name + "_3d"] = sample_tensor(dtype, {2, 3, 7});
  }
  // Special float values must survive bit for bit.
  ck.tensors["specials"] = at::tensor({std::nanf(""), INFINITY, -INFINITY, -0.0f, 1e-40f}, at::kFloat);
  save_checkpoint(dir / "all.ckpt", ck);
  const Checkpoint loaded = load_checkpoint(dir / "all.ckpt");
  EXPECT_EQ(loaded.kind, "feature_field");
  ASSERT_EQ(loaded.tensors.size(), ck.tensors.size());
  for (const auto& [name, tensor] : ck.tensors) {
    ASSERT_EQ(loaded.tensors.count(name), 1u) << name;
    expect_same_tensor(tensor, loaded.tensors.at(name), name);
  }
  EXPECT_EQ(loaded.tensors.at("Float_scalar").dim(), 0);
  EXPECT_EQ(loaded.tensors.at("Long_empty2d").sizes().vec(), (std::vector<int64_t>{3, 0}));
}

TEST(Checkpoint, NonContiguousAndViewInputsAreSavedByValue) {
  at::manual_seed(4);
  TempDir dir;
  const at::Tensor base = at::randn({6, 8});
  Checkpoint ck;
  ck.kind = "k";
  ck.tensors["transposed"] = base.t();
  ck.tensors["strided"] = base.slice(1, 1, 8, 3);
  ck.tensors["offset_view"] = base[4];
  ck.tensors["expanded"] = at::arange(3, at::kInt).unsqueeze(0).expand({4, 3});
  ck.tensors["with_grad"] = at::ones({2}).requires_grad_(true);
  ASSERT_FALSE(ck.tensors["transposed"].is_contiguous());
  ASSERT_FALSE(ck.tensors["strided"].is_contiguous());
  save_checkpoint(dir / "views.ckpt", ck);
  const Checkpoint loaded = load_checkpoint(dir / "views.ckpt");
  for (const auto& [name, tensor] : ck.tensors) expect_same_tensor(tensor.detach(), loaded.tensors.at(name), name);
  EXPECT_TRUE(at::equal(loaded.tensors.at("transposed"), base.t()));
}

TEST(Checkpoint, MetadataRoundTrips) {
  TempDir dir;
  Checkpoint ck;
  ck.kind = "radiance_field";
  ck.metadata = nlohmann::json::parse(R"({
    "step": 30000, "big": 9007199254740993, "lr": 0.01, "name": "lego \u00e9\u6f22",
    "config": {"hash_grid": {"levels": 16, "sizes": [2, 4.5, -1]}, "flag": true, "none": null},
    "empty": {}, "list": []})");
  save_checkpoint(dir / "m.ckpt", ck);
  const Checkpoint loaded = load_checkpoint(dir / "m.ckpt", "radiance_field");
  EXPECT_EQ(loaded.metadata, ck.metadata);
  EXPECT_EQ(loaded.metadata["big"].get<int64_t>(), 9007199254740993LL);
  EXPECT_TRUE(loaded.tensors.empty());

  Checkpoint bare;
  bare.kind = "x";
  save_checkpoint(dir / "bare.ckpt", bare);
  EXPECT_TRUE(load_checkpoint(dir / "bare.ckpt").metadata.is_null());
}

TEST(Checkpoint, FileFollowsTheDocumentedLayout) {
  TempDir dir;
  const Checkpoint ck = small_checkpoint();
  save_checkpoint(dir / "s.ckpt", ck);
  const auto bytes = read_bytes(dir / "s.ckpt");
  ASSERT_GE(bytes.size(), 40u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "SEMFCKPT");
  EXPECT_EQ(le32(bytes, 8), 1u);
  EXPECT_EQ(le32(bytes, 12), 0u);
  EXPECT_EQ(le64(bytes, 16), bytes.size() - 32);
  EXPECT_EQ(le32(bytes, 24), semfield::crc32(bytes.data() + 32, bytes.size() - 32));
  EXPECT_EQ(le32(bytes, 28), 0u);
  const uint64_t json_size = le64(bytes, 32);
  const auto doc = nlohmann::json::parse(bytes.begin() + 40, bytes.begin() + 40 + static_cast<long>(json_size));
  EXPECT_EQ(doc["kind"], "radiance_field");
  EXPECT_EQ(doc["metadata"]["step"], 7);
  const uint64_t data_start = (40 + json_size + 63) / 64 * 64;
  ASSERT_EQ(doc["tensors"].size(), 2u);
  for (const auto& entry : doc["tensors"]) {
    const std::string name = entry["name"];
    const uint64_t offset = entry["offset"];
    EXPECT_EQ((data_start + offset) % 64, 0u) << name;
    const at::Tensor& t = ck.tensors.at(name);
    EXPECT_EQ(entry["nbytes"].get<uint64_t>(), static_cast<uint64_t>(t.nbytes()));
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), t.sizes().vec());
    EXPECT_EQ(std::memcmp(bytes.data() + data_start + offset, t.data_ptr(), t.nbytes()), 0) << name;
  }
  EXPECT_EQ(doc["tensors"][0]["dtype"], "float32");
  EXPECT_EQ(doc["tensors"][1]["dtype"], "int64");
}

TEST(Checkpoint, HandmadeFileLoads) {
  TempDir dir;
  std::vector<uint8_t> data(64 + 2, 0);
  const float values[2] = {1.5f, -2.0f};
  std::memcpy(data.data(), values, sizeof(values));
  data[64] = 1;
  write_bytes(dir / "h.ckpt", handmade_checkpoint(
      R"({"kind":"label_field","metadata":{"n":3},"tensors":[
          {"name":"w","dtype":"float32","shape":[2],"offset":0,"nbytes":8},
          {"name":"m","dtype":"bool","shape":[2,1],"offset":64,"nbytes":2}]})", data));
  const Checkpoint ck = load_checkpoint(dir / "h.ckpt", "label_field");
  EXPECT_EQ(ck.metadata["n"], 3);
  EXPECT_TRUE(at::equal(ck.tensors.at("w"), at::tensor({1.5f, -2.0f})));
  EXPECT_EQ(ck.tensors.at("m").scalar_type(), at::kBool);
  EXPECT_TRUE(ck.tensors.at("m")[0][0].item<bool>());
  EXPECT_FALSE(ck.tensors.at("m")[1][0].item<bool>());
}

/// parse_checkpoint's error for bytes in memory (the exhaustive tests run in memory to stay fast).
std::string parse_error(const std::vector<uint8_t>& bytes, const fs::path& origin) {
  try {
    semfield::parse_checkpoint(bytes, origin);
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Checkpoint, EveryTruncationIsReportedAsTruncated) {
  TempDir dir;
  save_checkpoint(dir / "full.ckpt", small_checkpoint());
  const auto bytes = read_bytes(dir / "full.ckpt");
  const fs::path cut = dir / "cut.ckpt";
  const auto check = [&](size_t n, const std::string& msg) {
    ASSERT_THAT(msg, AllOf(HasSubstr(cut.string()), HasSubstr("truncated"))) << "cut at " << n;
    if (n < 32) {
      ASSERT_THAT(msg, HasSubstr(fmt::format("truncated: {} bytes", n))) << "cut at " << n;
    }
    if (n >= 32) {
      ASSERT_THAT(msg, HasSubstr(fmt::format("expected {} bytes, file has {}", bytes.size(), n))) << "cut at " << n;
    }
  };
  for (size_t n = 0; n < bytes.size(); ++n)
    check(n, parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)), cut));
  // The same through real files, at the interesting boundaries.
  for (const size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{31}, size_t{32}, size_t{40}, bytes.size() - 1}) {
    write_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)));
    check(n, load_error(cut));
  }
  EXPECT_EQ(load_error(dir / "full.ckpt"), "<no error>");
}

TEST(Checkpoint, EveryPayloadBitFlipIsAChecksumError) {
  TempDir dir;
  save_checkpoint(dir / "full.ckpt", small_checkpoint());
  const auto bytes = read_bytes(dir / "full.ckpt");
  const fs::path bad = dir / "bad.ckpt";
  for (size_t i = 32; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = bytes;
      flipped[i] ^= static_cast<uint8_t>(1u << bit);
      ASSERT_THAT(parse_error(flipped, bad),
                  AllOf(HasSubstr(bad.string()), HasSubstr("corrupted: checksum mismatch")))
          << "byte " << i << " bit " << bit;
    }
  }
  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write_bytes(bad, flipped);
  EXPECT_THAT(load_error(bad), AllOf(HasSubstr(bad.string()), HasSubstr("corrupted: checksum mismatch")));
}

TEST(Checkpoint, EveryHeaderBitFlipIsAnInputError) {
  TempDir dir;
  save_checkpoint(dir / "full.ckpt", small_checkpoint());
  const auto bytes = read_bytes(dir / "full.ckpt");
  const fs::path bad = dir / "bad.ckpt";
  // Each header field, by the byte it ends before, and the messages a flip in it may give.
  struct Field {
    size_t end;
    std::vector<std::string> messages;
  };
  const std::vector<Field> fields = {
      {8, {"not a semfield checkpoint"}},
      {12, {"is newer than this build supports", "invalid checkpoint format version 0"}},
      {16, {"unsupported checkpoint header flags"}},
      {24, {"truncated: expected", "unexpected bytes after the payload"}},
      {28, {"corrupted: checksum mismatch"}},
      {32, {"corrupted: reserved header bytes are not zero"}},
  };
  for (size_t i = 0; i < 32; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = bytes;
      flipped[i] ^= static_cast<uint8_t>(1u << bit);
      const std::string msg = parse_error(flipped, bad);
      ASSERT_THAT(msg, HasSubstr(bad.string())) << "byte " << i << " bit " << bit;
      const auto& field = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return i < f.end; });
      ASSERT_TRUE(std::any_of(field->messages.begin(), field->messages.end(),
                              [&](const std::string& m) { return msg.find(m) != std::string::npos; }))
          << "byte " << i << " bit " << bit << ": " << msg;
    }
  }
}

TEST(Checkpoint, NewerVersionAndUnknownFlagsAreRejected) {
  TempDir dir;
  save_checkpoint(dir / "full.ckpt", small_checkpoint());
  auto bytes = read_bytes(dir / "full.ckpt");
  put_le(bytes, 8, 2, 4);
  write_bytes(dir / "v2.ckpt", bytes);
  EXPECT_THAT(load_error(dir / "v2.ckpt"),
              AllOf(HasSubstr((dir / "v2.ckpt").string()), HasSubstr("version 2 is newer"), HasSubstr("(1)")));
  put_le(bytes, 8, 1, 4);
  put_le(bytes, 12, 4, 4);
  write_bytes(dir / "flags.ckpt", bytes);
  EXPECT_THAT(load_error(dir / "flags.ckpt"), HasSubstr("unsupported checkpoint header flags 0x00000004"));
}

TEST(Checkpoint, TrailingBytesAreRejected) {
  TempDir dir;
  save_checkpoint(dir / "full.ckpt", small_checkpoint());
  auto bytes = read_bytes(dir / "full.ckpt");
  const size_t size = bytes.size();
  bytes.push_back(0);
  write_bytes(dir / "long.ckpt", bytes);
  EXPECT_THAT(load_error(dir / "long.ckpt"),
              HasSubstr(fmt::format("1 unexpected bytes after the payload (expected {} bytes, file has {})", size,
                                    size + 1)));
}

TEST(Checkpoint, ForeignFilesAreNamed) {
  TempDir dir;
  std::vector<uint8_t> zip = {'P', 'K', 3, 4};
  zip.resize(200, 7);
  write_bytes(dir / "model.pth", zip);
  EXPECT_THAT(load_error(dir / "model.pth"),
              AllOf(HasSubstr((dir / "model.pth").string()), HasSubstr("not a semfield checkpoint"),
                    HasSubstr("'PK\\x03\\x04"), HasSubstr(".pth")));

  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::vector<uint8_t> st(8);
  put_le(st, 0, header.size(), 8);
  st.insert(st.end(), header.begin(), header.end());
  st.resize(st.size() + 4, 0);
  write_bytes(dir / "w.safetensors", st);
  EXPECT_THAT(load_error(dir / "w.safetensors"),
              AllOf(HasSubstr("not a semfield checkpoint"), HasSubstr("safetensors")));

  std::mt19937 rng(11);
  std::vector<uint8_t> noise(1000);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  write_bytes(dir / "noise.bin", noise);
  EXPECT_THAT(load_error(dir / "noise.bin"),
              AllOf(HasSubstr((dir / "noise.bin").string()), HasSubstr("not a semfield checkpoint")));
  write_bytes(dir / "tiny.bin", {'h', 'i'});
  EXPECT_THAT(load_error(dir / "tiny.bin"), HasSubstr("not a semfield checkpoint (magic 'hi'"));

  write_bytes(dir / "empty.ckpt", {});
  EXPECT_THAT(load_error(dir / "empty.ckpt"),
              AllOf(HasSubstr((dir / "empty.ckpt").string()), HasSubstr("truncated: 0 bytes (empty file)")));

  fs::create_directories(dir / "folder.ckpt");
  EXPECT_THAT(load_error(dir / "folder.ckpt"),
              AllOf(HasSubstr((dir / "folder.ckpt").string()), HasSubstr("is a directory")));
  EXPECT_THAT(load_error(dir / "missing.ckpt"),
              AllOf(HasSubstr((dir / "missing.ckpt").string()), HasSubstr("file not found")));
}

TEST(Checkpoint, MalformedMetadataAndTensorTablesAreRejected) {
  TempDir dir;
  const fs::path path = dir / "m.ckpt";
  const std::vector<uint8_t> eight(8, 0);
  const auto error_for = [&](const std::string& json, const std::vector<uint8_t>& data = {}) {
    write_bytes(path, handmade_checkpoint(json, data));
    return load_error(path);
  };
  const auto entry = [](const std::string& fields) {
    return R"({"kind":"k","metadata":null,"tensors":[{"name":"t",)" + fields + "}]}";
  };
  EXPECT_THAT(error_for(R"({"kind":"k",)"), AllOf(HasSubstr(path.string()), HasSubstr("malformed JSON")));
  EXPECT_THAT(error_for(R"([1,2])"), HasSubstr("(root): expected the checkpoint metadata to be a JSON object"));
  EXPECT_THAT(error_for(R"({"metadata":null,"tensors":[]})"), HasSubstr("kind: missing required key"));
  EXPECT_THAT(error_for(R"({"kind":"k","metadata":null,"tensors":[],"extra":1})"),
              HasSubstr("extra: unknown key"));
  EXPECT_THAT(error_for(R"({"kind":"k","metadata":null,"tensors":{}})"),
              HasSubstr("tensors: expected an array"));
  EXPECT_THAT(error_for(entry(R"("dtype":"complex64","shape":[2],"offset":0,"nbytes":8)"), eight),
              AllOf(HasSubstr("tensors[0].dtype"), HasSubstr("unknown dtype 'complex64'")));
  EXPECT_THAT(error_for(entry(R"("dtype":"float32","shape":[3],"offset":0,"nbytes":8)"), eight),
              AllOf(HasSubstr("tensors[0].nbytes"), HasSubstr("byte size 8 does not match shape [3]")));
  EXPECT_THAT(error_for(entry(R"("dtype":"float32","shape":[2],"offset":64,"nbytes":8)"), eight),
              AllOf(HasSubstr("tensors[0].offset"), HasSubstr("outside the data section")));
  EXPECT_THAT(error_for(entry(R"("dtype":"float32","shape":[2],"offset":4,"nbytes":8)"), eight),
              HasSubstr("outside the data section (8 bytes)"));
  EXPECT_THAT(error_for(entry(R"("dtype":"float32","shape":[-2],"offset":0,"nbytes":8)"), eight),
              AllOf(HasSubstr("tensors[0].shape[0]"), HasSubstr("non-negative")));
  EXPECT_THAT(error_for(entry(R"("dtype":"float32","shape":[2.5],"offset":0,"nbytes":8)"), eight),
              HasSubstr("expected an integer"));
  EXPECT_THAT(error_for(entry(R"("dtype":"int8","shape":[4294967296,4294967296],"offset":0,"nbytes":0)")),
              HasSubstr("too large"));
  EXPECT_THAT(error_for(entry(R"("dtype":"int8","shape":[8],"offset":18446744073709551615,"nbytes":8)"), eight),
              HasSubstr("tensors[0].offset"));
  EXPECT_THAT(error_for(entry(R"("shape":[2],"offset":0,"nbytes":8)"), eight),
              HasSubstr("tensors[0].dtype: missing required key"));
  EXPECT_THAT(error_for(entry(R"("dtype":"uint8","shape":[1],"offset":0,"nbytes":1,"stride":[1])"), eight),
              HasSubstr("tensors[0].stride: unknown key"));
  EXPECT_THAT(error_for(R"({"kind":"k","metadata":null,"tensors":[
                 {"name":"t","dtype":"uint8","shape":[1],"offset":0,"nbytes":1},
                 {"name":"t","dtype":"uint8","shape":[1],"offset":1,"nbytes":1}]})", eight),
              HasSubstr("duplicate tensor name 't'"));
  EXPECT_THAT(error_for(entry(R"("dtype":"bool","shape":[2],"offset":0,"nbytes":2)"), {1, 2}),
              HasSubstr("bool element 1 holds byte value 2"));

  // A metadata length that runs past the payload, with a valid checksum.
  auto bytes = handmade_checkpoint(R"({"kind":"k","metadata":null,"tensors":[]})", {});
  put_le(bytes, 32, 1000, 8);
  put_le(bytes, 24, semfield::crc32(bytes.data() + 32, bytes.size() - 32), 4);
  write_bytes(path, bytes);
  EXPECT_THAT(load_error(path), HasSubstr("metadata length 1000 exceeds the payload"));
}

TEST(Checkpoint, KindMismatchNamesBothKinds) {
  TempDir dir;
  Checkpoint ck = small_checkpoint();
  ck.kind = "feature_field";
  save_checkpoint(dir / "f.ckpt", ck);
  EXPECT_THAT(load_error(dir / "f.ckpt", "radiance_field"),
              AllOf(HasSubstr((dir / "f.ckpt").string()),
                    HasSubstr("expected a radiance_field checkpoint, got feature_field")));
  EXPECT_EQ(load_checkpoint(dir / "f.ckpt", "feature_field").kind, "feature_field");
  EXPECT_EQ(load_checkpoint(dir / "f.ckpt").kind, "feature_field");
}

TEST(Checkpoint, SaveIsAtomicAndLeavesNoTemporaryFiles) {
  TempDir dir;
  const fs::path path = dir / "run" / "model.ckpt";
  save_checkpoint(path, small_checkpoint());  // creates the folder
  EXPECT_TRUE(temp_files_in(path.parent_path()).empty());

  Checkpoint second = small_checkpoint();
  second.metadata["step"] = 8;
  save_checkpoint(path, second);  // overwrites in place
  EXPECT_EQ(load_checkpoint(path).metadata["step"], 8);
  EXPECT_TRUE(temp_files_in(path.parent_path()).empty());
  const auto before = read_bytes(path);

  // Failures before writing: metadata that cannot be JSON, an undefined tensor.
  Checkpoint bad_metadata = small_checkpoint();
  bad_metadata.metadata["name"] = std::string("\xff\xfe");
  try {
    save_checkpoint(path, bad_metadata);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(path.string()), HasSubstr("metadata")));
  }
  Checkpoint undefined = small_checkpoint();
  undefined.tensors["u"] = at::Tensor();
  EXPECT_THROW(save_checkpoint(path, undefined), std::logic_error);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(temp_files_in(path.parent_path()).empty());
}

TEST(Checkpoint, FailedWriteLeavesTheExistingFileUntouched) {
  TempDir dir;
  const fs::path path = dir / "model.ckpt";
  save_checkpoint(path, small_checkpoint());
  const auto before = read_bytes(path);

  // Make the write itself fail part-way: cap the size of files this process may write, so the large
  // checkpoint hits EFBIG while the small existing one is already on disk.
  Checkpoint big = small_checkpoint();
  big.tensors["big"] = at::zeros({1 << 20}, at::kFloat);
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit capped = old_limit;
  capped.rlim_cur = 64 * 1024;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &capped), 0);
  std::string error = "<no error>";
  try {
    save_checkpoint(path, big);
  } catch (const InputError& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_THAT(error, AllOf(HasSubstr(path.string()), HasSubstr("write failed")));
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_TRUE(temp_files_in(dir.path()).empty());

  // Renaming onto a folder fails after the data is written; the folder and its contents stay.
  const fs::path folder = dir / "taken.ckpt";
  fs::create_directories(folder);
  semfield::test::write_text(folder / "keep.txt", "keep");
  EXPECT_THROW(save_checkpoint(folder, small_checkpoint()), InputError);
  EXPECT_TRUE(fs::is_directory(folder));
  EXPECT_TRUE(fs::exists(folder / "keep.txt"));
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

}  // namespace
