// CLIP tokenizer vs. the golden strings of openai/CLIP (texts.json ids and text_tokens.npy rows), from the
// original merges file and from Hugging Face-format files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "golden_util.h"
#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/foundation/clip_tokenizer.h"
#include "support/test_support.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::golden_path;

namespace {

struct GoldenText {
  std::string text, decoded;
  std::vector<int64_t> ids;
  bool truncated = false;
};

std::vector<GoldenText> golden_texts() {
  std::vector<GoldenText> out;
  const JsonNode j = JsonNode::parse_file(*golden_path("clip", "texts.json"));
  const JsonNode texts = j.at("texts");
  for (size_t i = 0; i < texts.size(); ++i) {
    GoldenText t;
    t.text = texts.at(i).at("text").as_string();
    t.decoded = texts.at(i).at("decoded").as_string();
    t.truncated = texts.at(i).at("truncated").as_bool();
    const JsonNode ids = texts.at(i).at("bpe_ids_without_sot_eot");
    for (size_t k = 0; k < ids.size(); ++k) t.ids.push_back(ids.at(k).as_int());
    out.push_back(t);
  }
  return out;
}

void check_tokenizer(const ClipTokenizer& tokenizer) {
  const std::vector<GoldenText> texts = golden_texts();
  ASSERT_EQ(texts.size(), 10u);
  std::vector<std::string> strings;
  for (const GoldenText& t : texts) {
    EXPECT_EQ(tokenizer.encode(t.text), t.ids) << t.text;
    EXPECT_EQ(tokenizer.decode(t.ids), t.decoded) << t.text;
    strings.push_back(t.text);
  }
  const at::Tensor rows = tokenizer.tokenize(strings, 77, true);
  if (const at::Tensor ref = semfield::test::golden_tensor("clip", "text_tokens.npy"); ref.defined()) {
    EXPECT_TRUE(at::equal(rows, ref.to(at::kLong))) << "token rows differ from text_tokens.npy";
  }
  // The 399-character string is truncated: 77 ids ending in EOT.
  EXPECT_TRUE(texts[9].truncated);
  EXPECT_EQ(rows[9][76].item<int64_t>(), tokenizer.eot_token());
  EXPECT_THROW(tokenizer.tokenize({texts[9].text}, 77, false), UsageError);
  // The empty string is [SOT, EOT].
  EXPECT_EQ(rows[8][0].item<int64_t>(), 49406);
  EXPECT_EQ(rows[8][1].item<int64_t>(), 49407);
  EXPECT_EQ(rows[8][2].item<int64_t>(), 0);
}

TEST(ClipTokenizer, GoldenStringsFromOriginalMergesFile) {
  SEMFIELD_REQUIRE_GOLDEN("clip", "bpe_simple_vocab_16e6.txt.gz");
  const ClipTokenizer tokenizer = ClipTokenizer::from_bpe_file(*golden_path("clip", "bpe_simple_vocab_16e6.txt.gz"));
  EXPECT_EQ(tokenizer.vocab_size(), 49408u);
  check_tokenizer(tokenizer);
}

TEST(ClipTokenizer, GoldenStringsFromHuggingFaceFiles) {
  // tests/data/golden/clip/tokenizer_subset: the merges the golden strings use, with their original ids
  // (see make_tokenizer_subset.py), in Hugging Face's vocab.json + merges.txt layout.
  const auto dir = semfield::test::test_data_dir() / "golden" / "clip" / "tokenizer_subset";
  const ClipTokenizer tokenizer = ClipTokenizer::find_in(dir);
  check_tokenizer(tokenizer);
}

TEST(ClipTokenizer, CleaningFollowsTheReference) {
  EXPECT_EQ(clip_clean_text("  multiple   spaces\tand\nnewlines  "), "multiple spaces and newlines");
  EXPECT_EQ(clip_clean_text("Tom &amp;amp; Jerry"), "tom & jerry");  // html.unescape twice
  EXPECT_EQ(clip_clean_text("&#65;&#x42;"), "ab");
}

TEST(ClipTokenizer, MissingFilesAreNamed) {
  semfield::test::TempDir dir;
  try {
    ClipTokenizer::find_in(dir.path());
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bpe_simple_vocab_16e6.txt.gz"), std::string::npos) << e.what();
  }
  semfield::test::write_text(dir / "bpe_simple_vocab_16e6.txt.gz", "not gzip at all");
  EXPECT_THROW(ClipTokenizer::find_in(dir.path()), InputError);
}

}  // namespace
