// NumPy .npy read (format 1.0/2.0/3.0, C order, little-endian) and atomic write (format 1.0).
#include "semfield/io/npy.h"

#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

std::string npy_descr(DType dtype) {
  switch (dtype) {
    case DType::F32: return "<f4";
    case DType::F16: return "<f2";
    case DType::F64: return "<f8";
    case DType::U8: return "|u1";
    case DType::I8: return "|i1";
    case DType::U16: return "<u2";
    case DType::I16: return "<i2";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::Bool: return "|b1";
    case DType::BF16: break;
  }
  fail_usage("cannot write a {} array to .npy: NumPy has no such dtype (convert it to F32 first)",
             dtype_name(dtype));
}

// Maps a descr string ('<f4', '|u1', ...) to a dtype, or throws naming what is wrong with it.
DType parse_descr(const std::string& descr, const fs::path& origin) {
  const std::string field = "header.descr";
  if (descr.size() < 2) fail_input(origin, field, "unsupported dtype '{}'", descr);
  const char order = descr[0];
  const std::string code = descr.substr(1);
  struct Known { const char* code; DType dtype; };
  static const Known kKnown[] = {
      {"f4", DType::F32}, {"f2", DType::F16}, {"f8", DType::F64}, {"u1", DType::U8}, {"i1", DType::I8},
      {"u2", DType::U16}, {"i2", DType::I16}, {"i4", DType::I32}, {"i8", DType::I64}, {"b1", DType::Bool}};
  std::optional<DType> dtype;
  for (const Known& k : kKnown)
    if (code == k.code) dtype = k.dtype;
  if (order != '<' && order != '>' && order != '|' && order != '=')
    fail_input(origin, field, "unsupported dtype '{}' (expected a byte-order prefix '<', '|' or '=')", descr);
  if (code == "O") fail_input(origin, field, "unsupported dtype '{}' (object arrays cannot be read)", descr);
  if (!dtype)
    fail_input(origin, field, "unsupported dtype '{}' (supported: f2 f4 f8 u1 i1 u2 i2 i4 i8 b1)", descr);
  // Byte order is meaningless for one-byte types, so '>u1' is as good as '|u1'.
  if (order == '>' && dtype_size(*dtype) > 1)
    fail_input(origin, field, "unsupported dtype '{}' (big-endian)", descr);
  return *dtype;
}

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
// This parser accepts exactly the value forms NumPy writes: strings, True/False, and tuples of integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const fs::path& origin) : m_text(text), m_origin(origin) {}

  struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<int64_t>> shape;
  };

  Header parse() {
    Header h;
    skip_space();
    expect('{', "header");
    skip_space();
    while (peek() != '}') {
      const std::string key = parse_string("header");
      const std::string field = "header." + key;
      skip_space();
      expect(':', field);
      skip_space();
      if (key == "descr") {
        if (h.descr) fail_input(m_origin, field, "duplicate key");
        if (peek() != '\'' && peek() != '"')
          fail_input(m_origin, field, "unsupported dtype (expected a string such as '<f4'; structured arrays "
                                      "are not supported)");
        h.descr = parse_string(field);
      } else if (key == "fortran_order") {
        if (h.fortran_order) fail_input(m_origin, field, "duplicate key");
        h.fortran_order = parse_bool(field);
      } else if (key == "shape") {
        if (h.shape) fail_input(m_origin, field, "duplicate key");
        h.shape = parse_shape(field);
      } else {
        fail_input(m_origin, field, "unknown key (expected 'descr', 'fortran_order' and 'shape')");
      }
      skip_space();
      if (peek() == ',') {
        ++m_pos;
        skip_space();
      } else if (peek() != '}') {
        fail_input(m_origin, "header", "expected ',' or '}}' at offset {}", m_pos);
      }
    }
    ++m_pos;
    skip_space();
    if (m_pos != m_text.size())
      fail_input(m_origin, "header", "unexpected text after the dictionary at offset {}", m_pos);
    return h;
  }

 private:
  char peek() const {
    if (m_pos >= m_text.size()) fail_input(m_origin, "header", "unexpected end of header dictionary");
    return m_text[m_pos];
  }
  void skip_space() {
    while (m_pos < m_text.size() && (m_text[m_pos] == ' ' || m_text[m_pos] == '\n' || m_text[m_pos] == '\t' ||
                                     m_text[m_pos] == '\r'))
      ++m_pos;
  }
  void expect(char c, const std::string& field) {
    if (peek() != c) fail_input(m_origin, field, "expected '{}' at offset {}", c, m_pos);
    ++m_pos;
  }
  std::string parse_string(const std::string& field) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail_input(m_origin, field, "expected a quoted string at offset {}", m_pos);
    ++m_pos;
    const size_t end = m_text.find(quote, m_pos);
    if (end == std::string::npos) fail_input(m_origin, field, "unterminated string");
    std::string s = m_text.substr(m_pos, end - m_pos);
    m_pos = end + 1;
    return s;
  }
  bool parse_bool(const std::string& field) {
    if (m_text.compare(m_pos, 4, "True") == 0) {
      m_pos += 4;
      return true;
    }
    if (m_text.compare(m_pos, 5, "False") == 0) {
      m_pos += 5;
      return false;
    }
    fail_input(m_origin, field, "expected True or False");
  }
  std::vector<int64_t> parse_shape(const std::string& field) {
    expect('(', field);
    std::vector<int64_t> shape;
    skip_space();
    while (peek() != ')') {
      bool negative = false;
      if (peek() == '-') {
        negative = true;
        ++m_pos;
      }
      if (peek() < '0' || peek() > '9') fail_input(m_origin, field, "expected an integer at offset {}", m_pos);
      int64_t value = 0;
      while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
        const int digit = m_text[m_pos] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
          fail_input(m_origin, field, "dimension {} is too large", shape.size());
        value = value * 10 + digit;
        ++m_pos;
      }
      // Files written under Python 2 may carry long literals such as 3L.
      if (m_pos < m_text.size() && m_text[m_pos] == 'L') ++m_pos;
      if (negative) fail_input(m_origin, field, "dimension {} is negative (-{})", shape.size(), value);
      shape.push_back(value);
      skip_space();
      if (peek() == ',') {
        ++m_pos;
        skip_space();
      } else if (peek() != ')') {
        fail_input(m_origin, field, "expected ',' or ')' at offset {}", m_pos);
      }
    }
    ++m_pos;
    return shape;
  }

  const std::string& m_text;
  const fs::path& m_origin;
  size_t m_pos = 0;
};

uint32_t read_le(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace

Array parse_npy(const uint8_t* data, size_t size, const fs::path& origin) {
  if (size < kMagicSize + 2 || std::memcmp(data, kMagic, kMagicSize) != 0)
    fail_input(origin, "magic", "not a .npy file (expected it to start with \\x93NUMPY)");
  const int major = data[6];
  const int minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    fail_input(origin, "version", "unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)", major, minor);
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_bytes;
  if (size < header_start) fail_input(origin, "header", "truncated file ({} bytes)", size);
  const size_t header_len = read_le(data + 8, length_bytes);
  if (header_len > size - header_start)
    fail_input(origin, "header", "header length {} runs past the end of the file ({} bytes)", header_len, size);
  const std::string text(reinterpret_cast<const char*>(data + header_start), header_len);
  const HeaderParser::Header header = HeaderParser(text, origin).parse();
  if (!header.descr) fail_input(origin, "header.descr", "missing required key");
  if (!header.fortran_order) fail_input(origin, "header.fortran_order", "missing required key");
  if (!header.shape) fail_input(origin, "header.shape", "missing required key");

  Array array;
  array.dtype = parse_descr(*header.descr, origin);
  array.shape = *header.shape;
  // For 0-d and 1-d arrays Fortran and C order are the same bytes.
  if (*header.fortran_order && array.shape.size() > 1)
    fail_input(origin, "header.fortran_order", "Fortran-order arrays are not supported (save with C order)");

  const size_t available = size - header_start - header_len;
  // Overflow-safe element count; a zero dimension makes the array empty whatever the others say.
  const size_t element = dtype_size(array.dtype);
  bool has_zero = false;
  for (const int64_t d : array.shape) has_zero = has_zero || d == 0;
  size_t numel = has_zero ? 0 : 1;
  bool too_big = false;
  for (size_t i = 0; i < array.shape.size() && !has_zero && !too_big; ++i) {
    const auto d = static_cast<size_t>(array.shape[i]);
    if (numel > std::numeric_limits<size_t>::max() / element / d) too_big = true;
    else numel *= d;
  }
  if (too_big || numel * element > available)
    fail_input(origin, "data", "truncated data: shape {} of {} needs {} bytes, file has {} after the header",
               shape_text(array.shape), *header.descr,
               too_big ? std::string("more than 2^64") : std::to_string(numel * element), available);
  if (numel * element < available)
    fail_input(origin, "data", "size mismatch: shape {} of {} needs {} bytes, file has {} after the header",
               shape_text(array.shape), *header.descr, numel * element, available);
  const uint8_t* payload = data + header_start + header_len;
  array.data.assign(payload, payload + numel * element);
  return array;
}

Array read_npy(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> serialize_npy(const Array& array) {
  SEMFIELD_ASSERT(array.data.size() == static_cast<size_t>(array.numel()) * dtype_size(array.dtype),
                  "serialize_npy: data size does not match shape and dtype");
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(array.shape[i]);
  if (array.shape.size() == 1) shape += ",";
  shape += ")";
  std::string header = "{'descr': '" + npy_descr(array.dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Format 1.0 has a 2-byte header length; NumPy pads magic + length + header to a multiple of 64 so the
  // data is aligned, and ends the header with a newline.
  size_t prefix = 10;
  size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  if (total - prefix > 65535) {  // only absurdly many dimensions need format 2.0's 4-byte length
    prefix = 12;
    total = (prefix + header.size() + 1 + 63) / 64 * 64;
  }
  const bool v1 = prefix == 10;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';

  std::vector<uint8_t> out(prefix + header.size() + array.data.size());
  std::memcpy(out.data(), kMagic, kMagicSize);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  for (size_t i = 0; i < prefix - 8; ++i) out[8 + i] = static_cast<uint8_t>((header.size() >> (8 * i)) & 0xff);
  std::memcpy(out.data() + prefix, header.data(), header.size());
  if (!array.data.empty()) std::memcpy(out.data() + prefix + header.size(), array.data.data(), array.data.size());
  return out;
}

void write_npy(const fs::path& path, const Array& array) {
  const std::vector<uint8_t> bytes = serialize_npy(array);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace semfield
