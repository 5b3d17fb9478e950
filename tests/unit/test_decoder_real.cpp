// The real SmolLM2-135M-Instruct (GGUF Q4_1) against transformers loading the
// same file (dequantized to float32): last-position logits and 32 greedy tokens.
#include <torch/torch.h>

#include "e2llm/decoder.h"
#include "e2llm/safetensors.h"
#include "test_util.h"

using namespace e2llm;

TEST(DecoderReal, SmolLM2MatchesTransformers) {
#if !__has_include("e2llm/gguf.h")
  GTEST_SKIP() << "this build has no GGUF reader yet (branch gguf)";
#else
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  auto ref = SafeTensorsFile::open(e2llm::test::golden_dir() + "/decoder/real/SmolLM2-135M-Instruct.safetensors");
  CausalLM lm = load_causal_lm(path);
  EXPECT_EQ(lm->config().family, DecoderFamily::Llama);
  EXPECT_TRUE(lm->config().tie_word_embeddings);
  torch::InferenceMode inference;
  for (int p = 0; p < 3; ++p) {
    std::string key = "prompt" + std::to_string(p);
    torch::Tensor ids = ref->get(key + "_ids").unsqueeze(0);
    torch::Tensor expected = ref->get(key + "_last_logits");
    KvCache cache = lm->new_cache(1, ids.size(1) + 40);
    torch::Tensor logits = lm->forward_ids(ids, {}, {}, &cache, LogitsFor::Last)[0];
    double scale = expected.abs().max().item<double>();
    EXPECT_LE((logits - expected).abs().max().item<double>(), 1e-3 * scale) << key;
    // Greedy: argmax loop over the cache.
    torch::Tensor greedy = ref->get(key + "_greedy");
    std::vector<int64_t> ours;
    for (int64_t i = 0; i < greedy.size(0); ++i) {
      int64_t next = logits.argmax().item<int64_t>();
      ours.push_back(next);
      logits = lm->forward_step(torch::tensor({next}), cache)[0];
    }
    std::vector<int64_t> theirs(greedy.data_ptr<int64_t>(), greedy.data_ptr<int64_t>() + greedy.numel());
    EXPECT_EQ(ours, theirs) << key;
  }
#endif
}
