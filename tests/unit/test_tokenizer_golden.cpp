// Every tokenizer against the goldens Hugging Face `tokenizers` made
// (scripts/golden/make_tokenizer_golden.py): ids, tokens, offsets in code
// points, and both decodes must match exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "e2llm/tokenizer/tokenizer.h"
#include "test_util.h"
#include "unit/test_tokenizer_golden.h"

namespace e2llm {
namespace {

using test::expect_matches_golden;

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

}  // namespace
}  // namespace e2llm
