// CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer.py): text cleaning, pre-tokenisation, BPE
// merges, and the fixed-length token rows of clip.tokenize.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield::foundation {

/// Cleaning follows the reference on ASCII text exactly: html.unescape twice, whitespace runs -> one space,
/// strip, lower-case, then the pattern <|startoftext|> | <|endoftext|> | 's 't 're 've 'm 'll 'd | letters+ |
/// one digit | other non-space runs. Differences on non-ASCII text (documented in docs/foundation_models.md):
/// ftfy's mojibake repair is not reproduced, only common named HTML entities are known, and letter/number
/// classes and lower-casing of non-ASCII characters come from the C library's C.UTF-8 tables, not Python's.
class ClipTokenizer {
 public:
  /// From the reference merges file (gzip text: a header line, then "a b" merges; the first 48894 are used).
  static ClipTokenizer from_bpe_file(const std::filesystem::path& gz_path);
  /// From Hugging Face files: vocab.json (token -> id) and merges.txt (optional "#version" header).
  static ClipTokenizer from_hf_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt);
  /// Looks in `directory` for bpe_simple_vocab_16e6.txt.gz, then vocab.json + merges.txt; InputError if neither.
  static ClipTokenizer find_in(const std::filesystem::path& directory);

  /// BPE ids of a text, without start/end tokens.
  std::vector<int64_t> encode(const std::string& text) const;
  /// Text of ids: byte symbols joined, decoded as UTF-8 (invalid bytes -> U+FFFD), "</w>" -> " ".
  std::string decode(const std::vector<int64_t>& ids) const;
  /// clip.tokenize: [N, context_length] int64 rows [SOT] + ids + [EOT], zero padded. Over-long rows are cut to
  /// context_length with EOT as the last id when `truncate`, else a UsageError names the text.
  at::Tensor tokenize(const std::vector<std::string>& texts, int64_t context_length = 77, bool truncate = true) const;

  int64_t sot_token() const { return m_sot; }
  int64_t eot_token() const { return m_eot; }
  size_t vocab_size() const { return m_decoder.size(); }

 private:
  ClipTokenizer() = default;
  void add_merges(const std::vector<std::string>& lines, const std::filesystem::path& origin, size_t first, size_t count);
  std::vector<std::string> bpe(const std::string& token) const;

  std::unordered_map<std::string, int64_t> m_encoder;
  std::unordered_map<int64_t, std::string> m_decoder;
  std::unordered_map<std::string, int64_t> m_ranks;  ///< "first second" -> merge rank
  std::filesystem::path m_origin;
  int64_t m_sot = 49406, m_eot = 49407;
};

/// Python's str.lower()/cleaning helpers exposed for tests: the cleaned text the pattern runs on.
std::string clip_clean_text(const std::string& text);

}  // namespace semfield::foundation
