// The real SmolLM2-135M-Instruct GGUF: greedy generate() continues fixed
// prompts exactly as transformers does (golden ids from
// scripts/golden/make_generation_golden.py, transformers loading the same GGUF).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "e2llm/io/fs.h"
#include "e2llm/generate/generate.h"
#include "test_util.h"

namespace e2llm {
namespace {

// Ids only: the text side is covered by the tokenizer's own tests.
class NoText : public TokenTextDecoder {
 public:
  std::string push(int64_t) override { return {}; }
};

TEST(GenerateRealModel, SmolLM2GreedyEqualsTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  nlohmann::json golden = read_json_file(test::golden_dir() + "/generation/smollm2_greedy.json");
  CausalLM lm = load_causal_lm(path);
  const auto& eos = lm->eos_token_ids();
  ASSERT_FALSE(eos.empty());
  for (const auto& c : golden.at("cases")) {
    const std::vector<int64_t> prompt = c.at("prompt_ids");
    const std::vector<int64_t> want_all = c.at("generated_ids");  // 32 tokens, EOS not honoured
    // We stop at the first EOS (kept in ids), transformers was told not to.
    auto first_eos = std::find_if(want_all.begin(), want_all.end(), [&](int64_t id) {
      return std::find(eos.begin(), eos.end(), id) != eos.end();
    });
    const std::vector<int64_t> want(want_all.begin(), first_eos == want_all.end() ? first_eos : first_eos + 1);
    GenerateOptions options;
    options.stop.max_new_tokens = golden.at("max_new_tokens");
    NoText decoder;
    GenerateResult r = generate(*lm, {Segment::tokens(prompt)}, decoder, options);
    EXPECT_EQ(r.ids, want) << c.at("text");
  }
}

}  // namespace
}  // namespace e2llm
