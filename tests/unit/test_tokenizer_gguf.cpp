// GGUF-embedded vocabularies against transformers' conversion of the same
// file (AutoTokenizer.from_pretrained(dir, gguf_file=...)), goldens made by
// scripts/golden/make_tokenizer_golden.py.
#include <gtest/gtest.h>

#include "e2llm/core/error.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "test_util.h"
#include "unit/test_tokenizer_golden.h"

namespace e2llm {
namespace {

TEST(TokenizerGguf, SmolLM2ByteLevelBpe) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  auto tok = Tokenizer::from_file(path);
  test::expect_matches_golden(*tok, "SmolLM2");
  EXPECT_EQ(tok->vocab_size(), 49152u);
  EXPECT_EQ(tok->token_to_id("<|im_start|>"), 1);
  EXPECT_TRUE(tok->is_special(1));
}

TEST(TokenizerGguf, Gemma3SentencePieceBpe) {
  E2LLM_REQUIRE_REAL_MODEL(path, "gemma-3-270m-Q4_K_M.gguf");
  auto tok = Tokenizer::from_file(path);
  test::expect_matches_golden(*tok, "gemma3");
  EXPECT_EQ(tok->special_ids().bos, 2);
  EXPECT_EQ(tok->special_ids().eos, 1);
}

TEST(TokenizerGguf, FileWithoutVocabularyIsAClearError) {
  const std::string path = test::source_dir() + "/fuzz/corpus/gguf/metadata_only.gguf";
  try {
    Tokenizer::from_file(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace e2llm
