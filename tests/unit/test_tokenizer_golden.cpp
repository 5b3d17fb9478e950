// Every tokenizer against the goldens Hugging Face `tokenizers` made
// (scripts/golden/make_tokenizer_golden.py): ids, tokens, offsets in code
// points, and both decodes must match exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "e2llm/tokenizer.h"
#include "test_util.h"

namespace e2llm {
namespace {

using nlohmann::json;

std::vector<json> read_golden(const std::string& name) {
  std::ifstream in(test::golden_dir() + "/tokenizer/" + name + ".golden.jsonl");
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

std::string shorten(const std::string& s) { return s.size() > 60 ? s.substr(0, 60) + "..." : s; }

void expect_matches_golden(const Tokenizer& tok, const std::string& name) {
  std::vector<json> rows = read_golden(name);
  ASSERT_FALSE(rows.empty()) << "no goldens for " << name;
  for (const json& row : rows) {
    const std::string text = row.at("text");
    // SentencePiece goldens (no such field) come from its plain encode, no BOS.
    const bool add_special = row.value("add_special_tokens", false);
    SCOPED_TRACE(name + " text='" + shorten(text) + "' add_special=" + std::to_string(add_special));
    Encoding e = tok.encode(text, add_special);
    EXPECT_EQ(e.ids, row.at("ids").get<std::vector<int64_t>>());
    EXPECT_EQ(e.tokens, row.at("tokens").get<std::vector<std::string>>());
    if (row.contains("offsets")) {
      std::vector<Offsets> expected;
      for (const auto& o : row.at("offsets")) expected.emplace_back(o[0].get<size_t>(), o[1].get<size_t>());
      EXPECT_EQ(e.offsets, expected);
    }
    if (row.contains("byte_offsets")) {
      std::vector<Offsets> expected;
      for (const auto& o : row.at("byte_offsets")) expected.emplace_back(o[0].get<size_t>(), o[1].get<size_t>());
      EXPECT_EQ(e.byte_offsets, expected);
    }
    if (row.contains("special_tokens_mask")) {
      EXPECT_EQ(e.special_tokens_mask, row.at("special_tokens_mask").get<std::vector<int64_t>>());
    }
    std::vector<int64_t> ids = row.at("ids").get<std::vector<int64_t>>();
    EXPECT_EQ(tok.decode(ids, true), row.at("decoded").get<std::string>());
    if (row.contains("decoded_with_special")) {
      EXPECT_EQ(tok.decode(ids, false), row.at("decoded_with_special").get<std::string>());
    }
  }
}

std::string fixture(const std::string& file) { return test::golden_dir() + "/tokenizer/" + file; }

TEST(TokenizerGolden, WordPieceCasedFixture) {
  expect_matches_golden(*Tokenizer::from_file(fixture("wordpiece_cased.tokenizer.json")), "wordpiece_cased");
}

TEST(TokenizerGolden, ByteLevelBpeFixture) {
  expect_matches_golden(*Tokenizer::from_file(fixture("bytelevel_bpe.tokenizer.json")), "bytelevel_bpe");
}

TEST(TokenizerGolden, BpeByteFallbackFixture) {
  expect_matches_golden(*Tokenizer::from_file(fixture("bpe_byte_fallback.tokenizer.json")), "bpe_byte_fallback");
}

TEST(TokenizerGolden, UnigramFixture) {
  expect_matches_golden(*Tokenizer::from_file(fixture("unigram.tokenizer.json")), "unigram");
}

// Loading SentencePiece in this process (which links LibTorch) is the crash
// the shim exists to avoid: these two also prove it is gone.
TEST(TokenizerGolden, SentencePieceBpeModel) {
  expect_matches_golden(*Tokenizer::from_file(fixture("spm_bpe.model")), "spm_bpe");
}

TEST(TokenizerGolden, SentencePieceUnigramModel) {
  expect_matches_golden(*Tokenizer::from_file(fixture("spm_unigram.model")), "spm_unigram");
}

TEST(TokenizerGolden, AllMiniLmL6V2) {
  E2LLM_REQUIRE_REAL_MODEL(dir, "all-MiniLM-L6-v2");
  expect_matches_golden(*Tokenizer::from_file(dir), "all-MiniLM-L6-v2");
}

TEST(TokenizerGolden, BgeSmallEnV15) {
  E2LLM_REQUIRE_REAL_MODEL(dir, "bge-small-en-v1.5");
  expect_matches_golden(*Tokenizer::from_file(dir), "bge-small-en-v1.5");
}

}  // namespace
}  // namespace e2llm
