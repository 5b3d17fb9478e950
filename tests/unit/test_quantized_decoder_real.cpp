// Real GGUF decoders run on their quantized blocks (--weights quantized)
// against the same files dequantized to float32, which equal transformers
// (test_decoder_real.cpp): greedy continuations of the golden prompts, and
// the top-1 token over 2k tokens of a real meeting transcript.
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/decoder/decoder.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "qmsum_text.h"
#include "test_util.h"

using namespace e2llm;

namespace {

struct Models {
  CausalLM float32, quantized;
};

Models load_both(const std::string& path) {
  Models m{load_causal_lm(path, decoder_options_for("float32", path)),
           load_causal_lm(path, decoder_options_for("quantized", path))};
  m.float32->eval(), m.quantized->eval();
  return m;
}

// 16 greedy tokens from each golden prompt: the quantized model, fed the
// float32 model's tokens, picks the same token at every step. (With int8
// activations, as llama.cpp rounds them, 1 of 48 SmolLM2 steps and 3 of 48
// Gemma 3 steps flipped, where float32's lead was 0.01–0.22 logits; the int16
// activations of quantized_matmul.h flip none.)
void expect_same_greedy_tokens(const std::string& path, const std::string& golden_name) {
  auto ref = SafeTensorsFile::open(test::golden_dir() + "/decoder/real/" + golden_name + ".safetensors");
  Models m = load_both(path);
  EXPECT_NE(m.quantized->weights_description().find("quantized"), std::string::npos);
  torch::InferenceMode inference;
  for (int p = 0; p < 3; ++p) {
    const torch::Tensor ids = ref->get("prompt" + std::to_string(p) + "_ids").unsqueeze(0);
    KvCache cf = m.float32->new_cache(1, ids.size(1) + 16), cq = m.quantized->new_cache(1, ids.size(1) + 16);
    torch::Tensor lf = m.float32->forward_ids(ids, {}, {}, &cf, LogitsFor::Last)[0];
    torch::Tensor lq = m.quantized->forward_ids(ids, {}, {}, &cq, LogitsFor::Last)[0];
    for (int step = 0; step < 16; ++step) {
      const int64_t want = lf.argmax().item<int64_t>(), got = lq.argmax().item<int64_t>();
      const torch::Tensor top2 = std::get<0>(lf.topk(2));
      EXPECT_EQ(got, want) << golden_name << " prompt " << p << " step " << step << ": float32 leads by "
                           << (top2[0] - top2[1]).item<double>() << ", largest logit difference "
                           << (lq - lf).abs().max().item<double>();
      const torch::Tensor next = torch::tensor({want});
      lf = m.float32->forward_step(next, cf)[0];
      lq = m.quantized->forward_step(next, cq)[0];
    }
  }
}

// Next-token top-1 over 2048 tokens of real text. The quantized model reads
// the text 8 tokens per call, so the integer kernels (not the float32 tiles
// that prefill uses) compute every position.
double top1_agreement(const std::string& path) {
  Models m = load_both(path);
  auto tokenizer = Tokenizer::from_file(m.float32->tokenizer_path());
  std::vector<int64_t> ids = tokenizer->encode(test::qmsum_transcripts("test", 1).at(0), true).ids;
  EXPECT_GE(ids.size(), 2048u);
  ids.resize(2048);
  torch::InferenceMode inference;
  KvCache cf = m.float32->new_cache(1, 2048), cq = m.quantized->new_cache(1, 2048);
  int64_t same = 0;
  for (int64_t begin = 0; begin < 2048; begin += 256) {
    const torch::Tensor block = torch::tensor(std::vector<int64_t>(ids.begin() + begin, ids.begin() + begin + 256));
    const torch::Tensor want = m.float32->forward_ids(block.unsqueeze(0), {}, {}, &cf)[0].argmax(-1);
    for (int64_t part = 0; part < 256; part += 8) {
      const torch::Tensor got = m.quantized->forward_ids(block.narrow(0, part, 8).unsqueeze(0), {}, {}, &cq)[0].argmax(-1);
      same += got.eq(want.narrow(0, part, 8)).sum().item<int64_t>();
    }
  }
  return static_cast<double>(same) / 2048.0;
}

}  // namespace

TEST(QuantizedDecoderReal, SmolLM2Q4_1GreedyEqualsFloat32) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  expect_same_greedy_tokens(path, "SmolLM2-135M-Instruct");
}

TEST(QuantizedDecoderReal, Gemma3Q4_K_MGreedyEqualsFloat32) {
  E2LLM_REQUIRE_REAL_MODEL(path, "gemma-3-270m-Q4_K_M.gguf");
  expect_same_greedy_tokens(path, "gemma-3-270m");
}

TEST(QuantizedDecoderReal, Top1AgreementOverTwoThousandTokens) {
  E2LLM_REQUIRE_SHARED_DATA(qmsum, test::qmsum_path("test"));
  for (const char* name : {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-Q4_K_M.gguf"}) {
    E2LLM_REQUIRE_REAL_MODEL(path, name);
    const double agreement = top1_agreement(path);
    std::printf("[ note ] %s: quantized top-1 equals float32 at %.2f%% of 2048 positions\n", name, 100 * agreement);
    EXPECT_GE(agreement, 0.99) << name;
  }
}

TEST(QuantizedDecoder, WeightsChoiceFitsTheFile) {
  EXPECT_TRUE(decoder_options_for("auto", "m/model.gguf").keep_quantized);
  EXPECT_FALSE(decoder_options_for("auto", "m/folder").keep_quantized);
  EXPECT_EQ(decoder_options_for("auto", "m/folder").dtype, torch::kFloat32);
  EXPECT_EQ(decoder_options_for("bf16", "m/model.gguf").dtype, torch::kBFloat16);
  EXPECT_FALSE(decoder_options_for("float32", "m/model.gguf").keep_quantized);
  // Quantized inference keeps a float16 KV cache; the others the weights' dtype.
  EXPECT_EQ(decoder_options_for("auto", "m/model.gguf").kv_cache_dtype, torch::kHalf);
  EXPECT_FALSE(decoder_options_for("float32", "m/model.gguf").kv_cache_dtype.has_value());
  auto message = [](const char* weights, const char* path) {
    try {
      decoder_options_for(weights, path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("quantized", "m/folder").find("needs a .gguf model"), std::string::npos);
  EXPECT_NE(message("int3", "m/model.gguf").find("choose auto, quantized, float32 or bfloat16"), std::string::npos);
}
