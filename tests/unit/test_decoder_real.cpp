// Real pretrained GGUF decoders against transformers loading the same file
// (dequantized to float32): last-position logits and 32 greedy tokens for
// three prompts (goldens from scripts/golden/make_decoder_golden.py --real-model).
#include <torch/torch.h>

#include "e2llm/decoder/decoder.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using namespace e2llm;

namespace {

// Logits may be stored whole or as the 64 largest (large vocabularies).
void expect_logits_close(const SafeTensorsFile& ref, const std::string& key, const torch::Tensor& logits) {
  if (ref.has(key + "_last_logits")) {
    torch::Tensor expected = ref.get(key + "_last_logits");
    double scale = expected.abs().max().item<double>();
    EXPECT_LE((logits - expected).abs().max().item<double>(), 1e-3 * scale) << key;
    return;
  }
  torch::Tensor ids = ref.get(key + "_top_ids"), expected = ref.get(key + "_top_logits");
  double scale = expected.abs().max().item<double>();
  EXPECT_LE((logits.index_select(0, ids) - expected).abs().max().item<double>(), 1e-3 * scale) << key;
}

void check_against_transformers(const std::string& model_path, const std::string& golden_name) {
  auto ref = SafeTensorsFile::open(e2llm::test::golden_dir() + "/decoder/real/" + golden_name + ".safetensors");
  CausalLM lm = load_causal_lm(model_path);
  torch::InferenceMode inference;
  for (int p = 0; p < 3; ++p) {
    std::string key = "prompt" + std::to_string(p);
    torch::Tensor ids = ref->get(key + "_ids").unsqueeze(0);
    KvCache cache = lm->new_cache(1, ids.size(1) + 40);
    torch::Tensor logits = lm->forward_ids(ids, {}, {}, &cache, LogitsFor::Last)[0];
    expect_logits_close(*ref, key, logits);
    torch::Tensor greedy = ref->get(key + "_greedy");
    std::vector<int64_t> ours;
    for (int64_t i = 0; i < greedy.size(0); ++i) {  // greedy: argmax over the cache
      int64_t next = logits.argmax().item<int64_t>();
      ours.push_back(next);
      logits = lm->forward_step(torch::tensor({next}), cache)[0];
    }
    std::vector<int64_t> theirs(greedy.data_ptr<int64_t>(), greedy.data_ptr<int64_t>() + greedy.numel());
    EXPECT_EQ(ours, theirs) << key;
  }
}

}  // namespace

TEST(DecoderReal, SmolLM2MatchesTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  check_against_transformers(path, "SmolLM2-135M-Instruct");
}

TEST(DecoderReal, Gemma3MatchesTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "gemma-3-270m-Q4_K_M.gguf");
  if (!std::filesystem::exists(e2llm::test::golden_dir() + "/decoder/real/gemma-3-270m.safetensors"))
    GTEST_SKIP() << "no Gemma 3 golden (run make_decoder_golden.py --real-model)";
  check_against_transformers(path, "gemma-3-270m");
}
