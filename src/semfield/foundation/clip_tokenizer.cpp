// CLIP BPE tokenizer.
#include "semfield/foundation/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <clocale>
#include <cwctype>
#include <locale.h>
#include <map>
#include <sstream>
#include <wctype.h>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"

namespace semfield::foundation {

namespace fs = std::filesystem;

namespace {

// ---- UTF-8 <-> code points ------------------------------------------------------------------------------

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = n == 0 ? c : c & (0x3F >> n);
    bool ok = true;
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(n) + 1;
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

// ---- character classes ----------------------------------------------------------------------------------

locale_t utf8_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

// Python's str.isspace() (the \s of re in Unicode mode).
bool is_space(char32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  const locale_t loc = utf8_locale();
  return loc != static_cast<locale_t>(0) && iswalpha_l(static_cast<wint_t>(c), loc);
}

bool is_number(char32_t c) { return c >= '0' && c <= '9'; }

char32_t to_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  const locale_t loc = utf8_locale();
  return loc != static_cast<locale_t>(0) ? static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc)) : c;
}

// ---- html.unescape (numeric references and the common named ones) ----------------------------------------

std::u32string html_unescape(const std::u32string& s) {
  // Names Python's html5 table accepts; those marked legacy also match without the ';'.
  struct Entity {
    const char* name;
    char32_t cp;
    bool legacy;
  };
  static const Entity kEntities[] = {{"amp", '&', true},    {"lt", '<', true},     {"gt", '>', true},
                                     {"quot", '"', true},   {"apos", '\'', false}, {"nbsp", 0xA0, true},
                                     {"copy", 0xA9, true},  {"reg", 0xAE, true},   {"hellip", 0x2026, false},
                                     {"mdash", 0x2014, false}, {"ndash", 0x2013, false}};
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {
      ++j;
      const bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      const size_t digits_start = j;
      uint64_t value = 0;
      while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') ||
                              (hex && ((s[j] >= 'a' && s[j] <= 'f') || (s[j] >= 'A' && s[j] <= 'F'))))) {
        const char32_t d = s[j];
        const uint64_t v = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
        value = std::min<uint64_t>(value * (hex ? 16 : 10) + v, 0x110000);
        ++j;
      }
      if (j == digits_start) {
        out.push_back(s[i++]);
        continue;
      }
      if (j < s.size() && s[j] == ';') ++j;
      const bool invalid = value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF);
      out.push_back(invalid ? 0xFFFD : static_cast<char32_t>(value));
      i = j;
      continue;
    }
    bool matched = false;
    for (const Entity& e : kEntities) {
      const std::string name = e.name;
      if (s.size() - j < name.size()) continue;
      bool equal = true;
      for (size_t k = 0; k < name.size(); ++k) equal = equal && s[j + k] == static_cast<char32_t>(name[k]);
      if (!equal) continue;
      const size_t end = j + name.size();
      const bool semicolon = end < s.size() && s[end] == ';';
      if (!semicolon && !e.legacy) continue;
      out.push_back(e.cp);
      i = end + (semicolon ? 1 : 0);
      matched = true;
      break;
    }
    if (!matched) out.push_back(s[i++]);
  }
  return out;
}

std::u32string strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::u32string clean(const std::string& text) {
  // basic_clean (ftfy.fix_text is not reproduced), whitespace_clean, lower().
  std::u32string s = strip(html_unescape(html_unescape(utf8_decode(text))));
  std::u32string collapsed;
  for (size_t i = 0; i < s.size();) {
    if (is_space(s[i])) {
      collapsed.push_back(' ');
      while (i < s.size() && is_space(s[i])) ++i;
    } else {
      collapsed.push_back(s[i++]);
    }
  }
  collapsed = strip(collapsed);
  for (char32_t& c : collapsed) c = to_lower(c);
  return collapsed;
}

// The pre-tokenisation pattern, alternatives tried in order at each position as Python's re does.
std::vector<std::u32string> split_words(const std::u32string& s) {
  static const std::u32string kSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};
  static const std::u32string kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < s.size()) {
    bool done = false;
    for (const auto* group : {&kSpecials[0], &kContractions[0]}) {
      const size_t n = group == &kSpecials[0] ? 2 : 7;
      for (size_t k = 0; k < n && !done; ++k)
        if (s.compare(i, group[k].size(), group[k]) == 0) {
          words.push_back(group[k]);
          i += group[k].size();
          done = true;
        }
      if (done) break;
    }
    if (done) continue;
    size_t j = i;
    if (is_letter(s[i])) {
      while (j < s.size() && is_letter(s[j])) ++j;
    } else if (is_number(s[i])) {
      j = i + 1;
    } else if (!is_space(s[i])) {
      while (j < s.size() && !is_space(s[j]) && !is_letter(s[j]) && !is_number(s[j])) ++j;
    } else {
      ++i;
      continue;
    }
    words.push_back(s.substr(i, j - i));
    i = j;
  }
  return words;
}

// bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to 256 + n in byte order.
const std::vector<char32_t>& byte_encoder() {
  static const std::vector<char32_t> table = [] {
    std::vector<char32_t> t(256, 0);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    }
    return t;
  }();
  return table;
}

// The base vocabulary in the reference's order: printable bytes first, then the remapped ones.
std::vector<std::string> byte_vocabulary() {
  const auto& enc = byte_encoder();
  std::vector<std::string> out;
  for (int b = 0; b < 256; ++b)
    if (enc[static_cast<size_t>(b)] == static_cast<char32_t>(b)) out.push_back(utf8_encode(std::u32string(1, enc[static_cast<size_t>(b)])));
  for (int b = 0; b < 256; ++b)
    if (enc[static_cast<size_t>(b)] != static_cast<char32_t>(b)) out.push_back(utf8_encode(std::u32string(1, enc[static_cast<size_t>(b)])));
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string read_gzip(const fs::path& path) {
  if (!fs::is_regular_file(path)) fail_input(path, "", "tokenizer merges file not found");
  gzFile file = gzopen(path.string().c_str(), "rb");
  if (file == nullptr) fail_input(path, "", "cannot open gzip file");
  std::string out;
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  int err = 0;
  const char* message = gzerror(file, &err);
  const std::string problem = (n < 0 || (err != Z_OK && err != Z_STREAM_END)) ? std::string(message) : "";
  gzclose(file);
  if (!problem.empty()) fail_input(path, "", "corrupt gzip data: {}", problem);
  return out;
}

std::vector<std::string> split_spaces(const std::string& line) {
  std::vector<std::string> parts;
  std::istringstream in(line);
  std::string p;
  while (in >> p) parts.push_back(p);
  return parts;
}

}  // namespace

std::string clip_clean_text(const std::string& text) { return utf8_encode(clean(text)); }

void ClipTokenizer::add_merges(const std::vector<std::string>& lines, const fs::path& origin, size_t first,
                               size_t count) {
  int64_t rank = 0;
  for (size_t i = first; i < lines.size() && static_cast<size_t>(rank) < count; ++i) {
    if (lines[i].empty()) continue;
    const std::vector<std::string> parts = split_spaces(lines[i]);
    if (parts.size() != 2) fail_input(origin, fmt::format("line {}", i + 1), "expected a merge 'a b', got '{}'", lines[i]);
    m_ranks.emplace(parts[0] + " " + parts[1], rank++);
  }
}

ClipTokenizer ClipTokenizer::from_bpe_file(const fs::path& gz_path) {
  const std::vector<std::string> lines = split_lines(read_gzip(gz_path));
  // The reference keeps lines 1 .. 49152 - 256 - 2 (the vocabulary is 49408 with 256 * 2 byte symbols and 2
  // special tokens).
  constexpr size_t kMerges = 49152 - 256 - 2;
  if (lines.size() < 2) fail_input(gz_path, "", "holds no BPE merges");
  ClipTokenizer t;
  t.m_origin = gz_path;
  t.add_merges(lines, gz_path, 1, kMerges);
  std::vector<std::string> vocab = byte_vocabulary();
  const size_t n_bytes = vocab.size();
  for (size_t i = 0; i < n_bytes; ++i) vocab.push_back(vocab[i] + "</w>");
  for (size_t i = 1, added = 0; i < lines.size() && added < kMerges; ++i) {
    if (lines[i].empty()) continue;
    const std::vector<std::string> parts = split_spaces(lines[i]);
    vocab.push_back(parts[0] + parts[1]);
    ++added;
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");
  for (size_t id = 0; id < vocab.size(); ++id) {
    t.m_encoder[vocab[id]] = static_cast<int64_t>(id);
    t.m_decoder[static_cast<int64_t>(id)] = vocab[id];
  }
  t.m_sot = t.m_encoder.at("<|startoftext|>");
  t.m_eot = t.m_encoder.at("<|endoftext|>");
  return t;
}

ClipTokenizer ClipTokenizer::from_hf_files(const fs::path& vocab_json, const fs::path& merges_txt) {
  ClipTokenizer t;
  t.m_origin = vocab_json;
  const JsonNode vocab = JsonNode::parse_file(vocab_json);
  if (!vocab.is_object()) vocab.fail("expected an object mapping tokens to ids");
  for (const std::string& token : vocab.keys()) {
    const int64_t id = vocab.at(token).as_int();
    t.m_encoder[token] = id;
    t.m_decoder[id] = token;
  }
  std::vector<std::string> lines = split_lines(read_file_text(merges_txt));
  const size_t first = !lines.empty() && lines[0].rfind("#version", 0) == 0 ? 1 : 0;
  t.add_merges(lines, merges_txt, first, SIZE_MAX);
  for (const char* special : {"<|startoftext|>", "<|endoftext|>"})
    if (!t.m_encoder.count(special)) fail_input(vocab_json, special, "special token missing from the vocabulary");
  t.m_sot = t.m_encoder.at("<|startoftext|>");
  t.m_eot = t.m_encoder.at("<|endoftext|>");
  return t;
}

ClipTokenizer ClipTokenizer::find_in(const fs::path& directory) {
  if (fs::is_regular_file(directory / "bpe_simple_vocab_16e6.txt.gz"))
    return from_bpe_file(directory / "bpe_simple_vocab_16e6.txt.gz");
  if (fs::is_regular_file(directory / "vocab.json") && fs::is_regular_file(directory / "merges.txt"))
    return from_hf_files(directory / "vocab.json", directory / "merges.txt");
  fail_input(directory, "", "no CLIP tokenizer files: expected bpe_simple_vocab_16e6.txt.gz, or vocab.json and "
                            "merges.txt, beside the weights");
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& token) const {
  if (token == "<|startoftext|>" || token == "<|endoftext|>") return {token};
  std::vector<std::string> word;
  for (char32_t c : utf8_decode(token)) word.push_back(utf8_encode(std::u32string(1, c)));
  word.back() += "</w>";
  while (word.size() > 1) {
    int64_t best = INT64_MAX;
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = m_ranks.find(word[i] + " " + word[i + 1]);
      if (it != m_ranks.end() && it->second < best) {
        best = it->second;
        best_at = i;
      }
    }
    if (best == INT64_MAX) break;
    const std::string first = word[best_at], second = word[best_at + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  const auto& enc = byte_encoder();
  for (const std::u32string& word : split_words(clean(text))) {
    std::string symbols;
    for (unsigned char b : utf8_encode(word)) utf8_append(symbols, enc[b]);
    for (const std::string& piece : bpe(symbols)) {
      auto it = m_encoder.find(piece);
      if (it == m_encoder.end()) fail_input(m_origin, "", "BPE symbol '{}' is not in the vocabulary", piece);
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  static const std::map<char32_t, unsigned char> decoder = [] {
    std::map<char32_t, unsigned char> d;
    const auto& enc = byte_encoder();
    for (int b = 0; b < 256; ++b) d[enc[static_cast<size_t>(b)]] = static_cast<unsigned char>(b);
    return d;
  }();
  std::string joined;
  for (int64_t id : ids) {
    auto it = m_decoder.find(id);
    if (it == m_decoder.end()) fail_usage("token id {} is not in the CLIP vocabulary", id);
    joined += it->second;
  }
  std::string bytes;
  for (char32_t c : utf8_decode(joined)) {
    auto it = decoder.find(c);
    if (it != decoder.end()) bytes.push_back(static_cast<char>(it->second));
  }
  std::string text = utf8_encode(utf8_decode(bytes));
  size_t pos = 0;
  while ((pos = text.find("</w>", pos)) != std::string::npos) text.replace(pos, 4, " ");
  return text;
}

at::Tensor ClipTokenizer::tokenize(const std::vector<std::string>& texts, int64_t context_length, bool truncate) const {
  at::Tensor out = at::zeros({static_cast<int64_t>(texts.size()), context_length}, at::kLong);
  auto rows = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < texts.size(); ++r) {
    std::vector<int64_t> ids{m_sot};
    for (int64_t id : encode(texts[r])) ids.push_back(id);
    ids.push_back(m_eot);
    if (static_cast<int64_t>(ids.size()) > context_length) {
      if (!truncate)
        fail_usage("text {} is too long for the context length {}: '{}'", r, context_length, texts[r].substr(0, 60));
      ids.resize(static_cast<size_t>(context_length));
      ids.back() = m_eot;
    }
    for (size_t i = 0; i < ids.size(); ++i) rows[static_cast<int64_t>(r)][static_cast<int64_t>(i)] = ids[i];
  }
  return out;
}

}  // namespace semfield::foundation
