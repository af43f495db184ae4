// COLMAP sparse model files (cameras, images, points3D; .txt and .bin) read into plain records.
#include "semfield/data/colmap_model.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

struct ModelInfo {
  const char* name;
  int num_params;
};
// Indexed by COLMAP's model id.
constexpr ModelInfo kModels[] = {
    {"SIMPLE_PINHOLE", 3}, {"PINHOLE", 4},         {"SIMPLE_RADIAL", 4},         {"RADIAL", 5},
    {"OPENCV", 8},         {"OPENCV_FISHEYE", 8},  {"FULL_OPENCV", 12},          {"FOV", 5},
    {"SIMPLE_RADIAL_FISHEYE", 4}, {"RADIAL_FISHEYE", 5}, {"THIN_PRISM_FISHEYE", 12},
    {"RAD_TAN_THIN_PRISM_FISHEYE", 16}};
constexpr int kNumModels = static_cast<int>(sizeof(kModels) / sizeof(kModels[0]));

// Sequential little-endian reader over a byte buffer. Errors name the file, the record being read
// ("camera 2 of 5 (id 7)") and the field; the record context is kept as plain values so that the
// message is only formatted on failure (points3D.bin can hold millions of records).
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, const fs::path& origin)
      : m_data(data), m_size(data ? size : 0), m_origin(origin) {}

  void set_record(const char* kind, uint64_t index, uint64_t total) {
    m_kind = kind;
    m_index = index;
    m_total = total;
    m_id.reset();
  }
  void set_id(uint64_t id) { m_id = id; }
  void clear_record() { m_kind = nullptr; }

  uint64_t u64(const char* field) { return little_endian(8, field); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(little_endian(4, field)); }
  int32_t i32(const char* field) {
    const uint32_t v = u32(field);
    int32_t out;
    std::memcpy(&out, &v, sizeof(out));
    return out;
  }
  uint8_t u8(const char* field) { return static_cast<uint8_t>(little_endian(1, field)); }
  double f64(const char* field) {
    const uint64_t bits = little_endian(8, field);
    double v;
    std::memcpy(&v, &bits, sizeof(v));
    if (!std::isfinite(v)) fail(field, "non-finite value");
    return v;
  }
  std::string cstring(const char* field) {
    const void* end = m_pos < m_size ? std::memchr(m_data + m_pos, '\0', m_size - m_pos) : nullptr;
    if (!end) fail(field, fmt::format("truncated: the string starting at byte offset {} has no terminating "
                                      "NUL before the end of the file ({} bytes)", m_pos, m_size));
    const size_t length = static_cast<const uint8_t*>(end) - (m_data + m_pos);
    std::string out(reinterpret_cast<const char*>(m_data + m_pos), length);
    m_pos += length + 1;
    return out;
  }
  // Skips `count` items of `item_size` bytes, checking they are all there.
  void skip(uint64_t count, size_t item_size, const char* field) {
    if (count > remaining() / item_size)
      fail(field, fmt::format("truncated: {} entries of {} bytes claimed at byte offset {}, but only {} bytes "
                              "remain",
                              count, item_size, m_pos, remaining()));
    m_pos += static_cast<size_t>(count) * item_size;
  }
  // A count read from the header must fit in what follows (each record at least `min_record` bytes),
  // so a corrupt count cannot trigger a huge allocation.
  uint64_t count(const char* field, size_t min_record) {
    const uint64_t n = u64(field);
    if (n > remaining() / min_record)
      fail(field, fmt::format("claims {} records but only {} bytes follow (each record needs at least {})", n,
                              remaining(), min_record));
    return n;
  }
  size_t remaining() const { return m_size - m_pos; }
  void expect_end() {
    clear_record();
    if (m_pos != m_size)
      fail("", fmt::format("{} unexpected bytes after the last record (at byte offset {})", m_size - m_pos, m_pos));
  }
  [[noreturn]] void fail(const char* field, const std::string& problem) const {
    std::string where;
    if (m_kind) {
      where = fmt::format("{} {} of {}", m_kind, m_index + 1, m_total);
      if (m_id) where += fmt::format(" (id {})", *m_id);
      if (field && *field) where += std::string(": ") + field;
    } else if (field) {
      where = field;
    }
    throw InputError(m_origin, where, problem);
  }

 private:
  uint64_t little_endian(size_t n, const char* field) {
    if (remaining() < n)
      fail(field, fmt::format("truncated: needs {} bytes at byte offset {}, but the file has {} bytes", n, m_pos,
                              m_size));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(m_data[m_pos + i]) << (8 * i);
    m_pos += n;
    return v;
  }

  const uint8_t* m_data;
  size_t m_size;
  size_t m_pos = 0;
  fs::path m_origin;
  const char* m_kind = nullptr;
  uint64_t m_index = 0, m_total = 0;
  std::optional<uint64_t> m_id;
};

// Non-comment, non-empty lines with their 1-based line numbers.
struct Line {
  size_t number;
  std::string text;
};

std::vector<std::string> tokens_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string token;
  while (in >> token) out.push_back(token);
  return out;
}

std::string trimmed(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<Line> split_lines(const std::string& text) {
  std::vector<Line> out;
  size_t start = 0, number = 1;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back({number++, text.substr(start, end - start)});
    start = end + 1;
  }
  return out;
}

bool is_skippable(const std::string& line) {
  const std::string t = trimmed(line);
  return t.empty() || t[0] == '#';
}

// Strict number parsing for text files: the whole token must be a number.
class TextFields {
 public:
  TextFields(const fs::path& origin, size_t line) : m_origin(origin), m_line(line) {}
  double number(const std::string& token, const char* field) const {
    char* end = nullptr;
    const double v = std::strtod(token.c_str(), &end);
    if (token.empty() || *end != '\0') fail(field, fmt::format("expected a number, got '{}'", token));
    if (!std::isfinite(v)) fail(field, fmt::format("non-finite value '{}'", token));
    return v;
  }
  uint64_t unsigned_int(const std::string& token, const char* field, uint64_t max) const {
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(token.c_str(), &end, 10);
    if (token.empty() || token[0] == '-' || token[0] == '+' || *end != '\0' || errno == ERANGE || v > max)
      fail(field, fmt::format("expected an integer in [0, {}], got '{}'", max, token));
    return v;
  }
  [[noreturn]] void fail(const char* field, const std::string& problem) const {
    throw InputError(m_origin, fmt::format("line {}{}{}", m_line, *field ? ": " : "", field), problem);
  }

 private:
  const fs::path& m_origin;
  size_t m_line;
};

constexpr uint64_t kMaxU32 = 0xFFFFFFFFull;

}  // namespace

int colmap_model_num_params(const std::string& model) {
  for (const ModelInfo& info : kModels)
    if (model == info.name) return info.num_params;
  return -1;
}

std::vector<ColmapCamera> parse_colmap_cameras_bin(const uint8_t* data, size_t size, const fs::path& origin) {
  ByteReader in(data, size, origin);
  const uint64_t n = in.count("num_cameras", 24);
  std::vector<ColmapCamera> out;
  out.reserve(static_cast<size_t>(n));
  std::set<uint32_t> ids;
  for (uint64_t i = 0; i < n; ++i) {
    in.set_record("camera", i, n);
    ColmapCamera cam;
    cam.id = in.u32("camera_id");
    in.set_id(cam.id);
    const int32_t model_id = in.i32("model_id");
    if (model_id < 0 || model_id >= kNumModels)
      in.fail("model_id", fmt::format("unknown camera model id {} (COLMAP defines 0..{})", model_id, kNumModels - 1));
    cam.model = kModels[model_id].name;
    const uint64_t width = in.u64("width"), height = in.u64("height");
    if (width == 0 || height == 0 || width > (1u << 20) || height > (1u << 20))
      in.fail("width", fmt::format("implausible image size {}x{}", width, height));
    cam.width = static_cast<int64_t>(width);
    cam.height = static_cast<int64_t>(height);
    cam.params.resize(static_cast<size_t>(kModels[model_id].num_params));
    for (double& p : cam.params) p = in.f64("params");
    if (!ids.insert(cam.id).second) in.fail("camera_id", "duplicate camera id");
    out.push_back(std::move(cam));
  }
  in.expect_end();
  return out;
}

std::vector<ColmapImage> parse_colmap_images_bin(const uint8_t* data, size_t size, const fs::path& origin) {
  ByteReader in(data, size, origin);
  // id + 7 doubles + camera id + at least the name's NUL + the points count.
  const uint64_t n = in.count("num_reg_images", 4 + 56 + 4 + 1 + 8);
  std::vector<ColmapImage> out;
  out.reserve(static_cast<size_t>(n));
  std::set<uint32_t> ids;
  static const char* kQ[] = {"qw", "qx", "qy", "qz"};
  static const char* kT[] = {"tx", "ty", "tz"};
  for (uint64_t i = 0; i < n; ++i) {
    in.set_record("image", i, n);
    ColmapImage image;
    image.id = in.u32("image_id");
    in.set_id(image.id);
    for (int k = 0; k < 4; ++k) image.qvec(k) = in.f64(kQ[k]);
    for (int k = 0; k < 3; ++k) image.tvec(k) = in.f64(kT[k]);
    image.camera_id = in.u32("camera_id");
    image.name = in.cstring("name");
    if (image.name.empty()) in.fail("name", "empty image name");
    image.n_points2d = in.u64("num_points2D");
    in.skip(image.n_points2d, 24, "points2D");
    if (!ids.insert(image.id).second) in.fail("image_id", "duplicate image id");
    out.push_back(std::move(image));
  }
  in.expect_end();
  return out;
}

std::vector<ColmapPoint> parse_colmap_points3d_bin(const uint8_t* data, size_t size, const fs::path& origin) {
  ByteReader in(data, size, origin);
  const uint64_t n = in.count("num_points", 8 + 24 + 3 + 8 + 8);
  std::vector<ColmapPoint> out;
  out.reserve(static_cast<size_t>(n));
  static const char* kXYZ[] = {"x", "y", "z"};
  static const char* kRGB[] = {"r", "g", "b"};
  for (uint64_t i = 0; i < n; ++i) {
    in.set_record("point", i, n);
    ColmapPoint point;
    point.id = in.u64("point3D_id");
    in.set_id(point.id);
    for (int k = 0; k < 3; ++k) point.xyz(k) = in.f64(kXYZ[k]);
    for (int k = 0; k < 3; ++k) point.rgb[static_cast<size_t>(k)] = in.u8(kRGB[k]);
    point.error = in.f64("error");
    point.track_length = in.u64("track_length");
    in.skip(point.track_length, 8, "track");
    out.push_back(point);
  }
  in.expect_end();
  return out;
}

std::vector<ColmapCamera> parse_colmap_cameras_txt(const std::string& text, const fs::path& origin) {
  std::vector<ColmapCamera> out;
  std::set<uint32_t> ids;
  for (const Line& line : split_lines(text)) {
    if (is_skippable(line.text)) continue;
    const TextFields f(origin, line.number);
    const std::vector<std::string> tokens = tokens_of(line.text);
    if (tokens.size() < 4)
      f.fail("", fmt::format("expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[], got {} fields", tokens.size()));
    ColmapCamera cam;
    cam.id = static_cast<uint32_t>(f.unsigned_int(tokens[0], "CAMERA_ID", kMaxU32));
    cam.model = tokens[1];
    cam.width = static_cast<int64_t>(f.unsigned_int(tokens[2], "WIDTH", 1u << 20));
    cam.height = static_cast<int64_t>(f.unsigned_int(tokens[3], "HEIGHT", 1u << 20));
    if (cam.width == 0 || cam.height == 0) f.fail("WIDTH", "image size must be positive");
    for (size_t k = 4; k < tokens.size(); ++k) cam.params.push_back(f.number(tokens[k], "PARAMS"));
    const int expected = colmap_model_num_params(cam.model);
    if (expected >= 0 && static_cast<size_t>(expected) != cam.params.size())
      f.fail("PARAMS", fmt::format("camera model {} takes {} parameters, got {}", cam.model, expected,
                                   cam.params.size()));
    if (!ids.insert(cam.id).second) f.fail("CAMERA_ID", fmt::format("duplicate camera id {}", cam.id));
    out.push_back(std::move(cam));
  }
  return out;
}

std::vector<ColmapImage> parse_colmap_images_txt(const std::string& text, const fs::path& origin) {
  std::vector<ColmapImage> out;
  std::set<uint32_t> ids;
  const std::vector<Line> lines = split_lines(text);
  static const char* kQ[] = {"QW", "QX", "QY", "QZ"};
  static const char* kT[] = {"TX", "TY", "TZ"};
  for (size_t i = 0; i < lines.size(); ++i) {
    if (is_skippable(lines[i].text)) continue;
    const TextFields f(origin, lines[i].number);
    // The name is the rest of the line after nine fields (it may contain spaces).
    std::istringstream in(lines[i].text);
    std::vector<std::string> tokens(9);
    for (std::string& token : tokens)
      if (!(in >> token))
        f.fail("", "expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME");
    std::string name;
    std::getline(in, name);
    name = trimmed(name);
    if (name.empty()) f.fail("NAME", "missing image name");
    ColmapImage image;
    image.id = static_cast<uint32_t>(f.unsigned_int(tokens[0], "IMAGE_ID", kMaxU32));
    for (int k = 0; k < 4; ++k) image.qvec(k) = f.number(tokens[static_cast<size_t>(1 + k)], kQ[k]);
    for (int k = 0; k < 3; ++k) image.tvec(k) = f.number(tokens[static_cast<size_t>(5 + k)], kT[k]);
    image.camera_id = static_cast<uint32_t>(f.unsigned_int(tokens[8], "CAMERA_ID", kMaxU32));
    image.name = name;
    // The next line always belongs to this image: its 2D points (X Y POINT3D_ID triples), maybe empty.
    if (i + 1 < lines.size()) {
      ++i;
      const size_t n_tokens = tokens_of(lines[i].text).size();
      if (n_tokens % 3 != 0)
        TextFields(origin, lines[i].number)
            .fail("POINTS2D", fmt::format("expected X Y POINT3D_ID triples, got {} values", n_tokens));
      image.n_points2d = n_tokens / 3;
    }
    if (!ids.insert(image.id).second) f.fail("IMAGE_ID", fmt::format("duplicate image id {}", image.id));
    out.push_back(std::move(image));
  }
  return out;
}

std::vector<ColmapPoint> parse_colmap_points3d_txt(const std::string& text, const fs::path& origin) {
  std::vector<ColmapPoint> out;
  static const char* kXYZ[] = {"X", "Y", "Z"};
  static const char* kRGB[] = {"R", "G", "B"};
  for (const Line& line : split_lines(text)) {
    if (is_skippable(line.text)) continue;
    const TextFields f(origin, line.number);
    const std::vector<std::string> tokens = tokens_of(line.text);
    if (tokens.size() < 8) f.fail("", "expected POINT3D_ID X Y Z R G B ERROR TRACK[]");
    ColmapPoint point;
    point.id = f.unsigned_int(tokens[0], "POINT3D_ID", ~uint64_t{0});
    for (int k = 0; k < 3; ++k) point.xyz(k) = f.number(tokens[static_cast<size_t>(1 + k)], kXYZ[k]);
    for (int k = 0; k < 3; ++k)
      point.rgb[static_cast<size_t>(k)] = static_cast<uint8_t>(f.unsigned_int(tokens[static_cast<size_t>(4 + k)], kRGB[k], 255));
    point.error = f.number(tokens[7], "ERROR");
    if ((tokens.size() - 8) % 2 != 0) f.fail("TRACK", "expected IMAGE_ID POINT2D_IDX pairs");
    point.track_length = (tokens.size() - 8) / 2;
    out.push_back(point);
  }
  return out;
}

namespace {

bool is_binary(const fs::path& path) { return path.extension() == ".bin"; }

}  // namespace

std::vector<ColmapCamera> read_colmap_cameras(const fs::path& path) {
  if (!is_binary(path)) return parse_colmap_cameras_txt(read_file_text(path), path);
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_colmap_cameras_bin(bytes.data(), bytes.size(), path);
}

std::vector<ColmapImage> read_colmap_images(const fs::path& path) {
  if (!is_binary(path)) return parse_colmap_images_txt(read_file_text(path), path);
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_colmap_images_bin(bytes.data(), bytes.size(), path);
}

std::vector<ColmapPoint> read_colmap_points3d(const fs::path& path) {
  if (!is_binary(path)) return parse_colmap_points3d_txt(read_file_text(path), path);
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_colmap_points3d_bin(bytes.data(), bytes.size(), path);
}

}  // namespace semfield
