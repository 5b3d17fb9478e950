#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "e2llm/decoder/decoder.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"
#include "decoder/causal_attention.h"
#include "support/random_models.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::string golden(const std::string& family) { return e2llm::test::golden_dir() + "/decoder/" + family; }

CausalLM golden_model(const std::string& family, const std::string& config_case,
                      torch::ScalarType dtype = torch::kFloat32) {
  DecoderConfig c = DecoderConfig::from_file(golden(family) + "/config_" + config_case + ".json");
  return make_causal_lm(c, *open_weights(golden(family)), {.dtype = dtype});
}

// Max |a - b| over the valid (unmasked) positions of [B, T, V] logits.
double max_diff_valid(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor m = mask.to(torch::kBool).unsqueeze(-1);
  return ((a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs() * m).max().item<double>();
}

std::string error_of(const nlohmann::json& j) {
  try {
    DecoderConfig::from_json(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---- config -----------------------------------------------------------------------

// The window generation keeps to: max_position_embeddings, stretched where the
// config scales RoPE (these golden configs: 64 positions, linear x2; dynamic
// x2 of 16; YaRN x4 of an original 16; llama3 names the extended length).
TEST(DecoderConfig, ContextWindowFollowsTheRopeScaling) {
  auto window = [](const std::string& file) { return DecoderConfig::from_file(golden("llama") + "/" + file).context_window(); };
  EXPECT_EQ(window("config.json"), 64);
  EXPECT_EQ(window("config_linear.json"), 128);
  EXPECT_EQ(window("config_dynamic.json"), 32);  // 16 positions x 2
  EXPECT_EQ(window("config_yarn.json"), 64);  // 16 x 4
  nlohmann::json yarn = read_json_file(golden("llama") + "/config_yarn.json");
  yarn["rope_parameters"]["factor"] = 16.0;
  EXPECT_EQ(DecoderConfig::from_json(yarn).context_window(), 256);  // 16 x 16
  EXPECT_EQ(window("config_llama3.json"), 64);
  nlohmann::json huge = read_json_file(golden("llama") + "/config_linear.json");
  huge["rope_parameters"]["factor"] = 1e30;  // capped, not an overflowing conversion
  EXPECT_EQ(DecoderConfig::from_json(huge).context_window(), int64_t{1} << 40);

  // Gemma 3's configs name the extended length (131072 for the 4B) and carry
  // a linear x8 on top of it: the length as named.
  nlohmann::json gemma = read_json_file(golden("gemma3") + "/config.json");
  gemma["rope_parameters"]["full_attention"] = {{"rope_theta", 1e6}, {"rope_type", "linear"}, {"factor", 8.0}};
  const DecoderConfig gemma_config = DecoderConfig::from_json(gemma);
  ASSERT_EQ(gemma_config.rope.type, RopeType::Linear);
  EXPECT_EQ(gemma_config.context_window(), 64);
}

TEST(DecoderConfig, ReadsEveryFamilyFromTransformersConfigs) {
  auto llama = DecoderConfig::from_file(golden("llama") + "/config_llama3.json");
  EXPECT_EQ(llama.family, DecoderFamily::Llama);
  EXPECT_EQ(llama.rope.type, RopeType::Llama3);
  EXPECT_EQ(llama.rope.original_max_position_embeddings, 32);
  EXPECT_TRUE(llama.q_bias && llama.o_bias && llama.mlp_bias);
  EXPECT_FALSE(llama.tie_word_embeddings);

  auto qwen2 = DecoderConfig::from_file(golden("qwen2") + "/config.json");
  EXPECT_TRUE(qwen2.q_bias && qwen2.k_bias && qwen2.v_bias);
  EXPECT_FALSE(qwen2.o_bias);
  EXPECT_TRUE(qwen2.tie_word_embeddings);
  EXPECT_FALSE(qwen2.has_sliding_layers());

  auto mistral = DecoderConfig::from_file(golden("mistral") + "/config.json");
  EXPECT_EQ(mistral.sliding_window, 8);
  EXPECT_EQ(mistral.layer_types[1], AttentionKind::Sliding);

  auto qwen3 = DecoderConfig::from_file(golden("qwen3") + "/config.json");
  EXPECT_TRUE(qwen3.qk_norm);

  auto gemma = DecoderConfig::from_file(golden("gemma3") + "/config.json");
  EXPECT_EQ(gemma.family, DecoderFamily::Gemma3);
  EXPECT_TRUE(gemma.gemma_norms && gemma.qk_norm && gemma.tie_word_embeddings);
  EXPECT_EQ(gemma.layer_types, (std::vector{AttentionKind::Sliding, AttentionKind::Full}));
  EXPECT_DOUBLE_EQ(gemma.rope.theta, 1e6);
  EXPECT_DOUBLE_EQ(gemma.local_rope.theta, 1e4);
  EXPECT_DOUBLE_EQ(gemma.attention_scale(), 1.0 / std::sqrt(8.0));
  EXPECT_DOUBLE_EQ(gemma.embedding_scale, std::sqrt(32.0));
  EXPECT_EQ(gemma.activation, Activation::GeluTanh);
}

TEST(DecoderConfig, ReadsLegacyFieldsAndWrappers) {
  // transformers 4.x spelling: rope_theta + rope_scaling {type}, Gemma 3 inside text_config.
  nlohmann::json legacy = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8},
                           {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                           {"rope_theta", 500000.0}, {"rope_scaling", {{"type", "linear"}, {"factor", 4.0}}},
                           {"eos_token_id", {1, 2}}};
  auto c = DecoderConfig::from_json(legacy);
  EXPECT_EQ(c.rope.type, RopeType::Linear);
  EXPECT_DOUBLE_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 2}));

  nlohmann::json wrapper = {{"model_type", "gemma3"},
                            {"eos_token_id", {1, 106}},
                            {"text_config", {{"model_type", "gemma3_text"}, {"vocab_size", 200}, {"hidden_size", 8},
                                             {"intermediate_size", 16}, {"num_hidden_layers", 12},
                                             {"num_attention_heads", 2}, {"num_key_value_heads", 1},
                                             {"head_dim", 4}, {"rope_local_base_freq", 5000.0},
                                             {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}}}};
  auto g = DecoderConfig::from_json(wrapper);
  EXPECT_EQ(g.family, DecoderFamily::Gemma3);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int64_t>{1, 106}));
  EXPECT_EQ(g.rope.type, RopeType::Linear);            // global layers scale
  EXPECT_EQ(g.local_rope.type, RopeType::Default);     // local layers do not
  EXPECT_DOUBLE_EQ(g.local_rope.theta, 5000.0);
  EXPECT_EQ(g.layer_types[5], AttentionKind::Full);    // sliding_window_pattern 6
  EXPECT_EQ(g.layer_types[4], AttentionKind::Sliding);
}

TEST(DecoderConfig, RejectsBadConfigsWithReasons) {
  nlohmann::json ok = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8}, {"intermediate_size", 16},
                       {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  EXPECT_EQ(error_of(ok), "");
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = ok;
    j[key] = v;
    return error_of(j);
  };
  EXPECT_NE(with("model_type", "gpt2").find("unsupported model_type 'gpt2'"), std::string::npos);
  EXPECT_NE(with("hidden_size", "big").find("'hidden_size' must be an integer"), std::string::npos);
  EXPECT_NE(with("num_key_value_heads", 3).find("not a multiple"), std::string::npos);
  EXPECT_NE(with("vocab_size", 0).find("'vocab_size' must be positive"), std::string::npos);
  EXPECT_NE(with("rope_scaling", {{"rope_type", "longrope"}}).find("unsupported rope_type"), std::string::npos);
  EXPECT_NE(with("eos_token_id", 99).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(with("hidden_act", "relu6").find("unsupported activation"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(with("rope_scaling", {{"rope_type", "llama3"}}).find("needs 'factor'"), std::string::npos);
}

TEST(DecoderConfig, JsonRoundTripKeepsEveryFamily) {
  for (auto family : {DecoderFamily::Llama, DecoderFamily::Mistral, DecoderFamily::Qwen2, DecoderFamily::Qwen3,
                      DecoderFamily::Gemma3}) {
    DecoderConfig c = tiny_decoder_config(family);
    DecoderConfig back = DecoderConfig::from_json(c.to_json());
    EXPECT_EQ(back.to_json(), c.to_json()) << to_string(family);
    EXPECT_EQ(back.layer_types, c.layer_types) << to_string(family);
    EXPECT_EQ(back.sliding_window, c.sliding_window) << to_string(family);
  }
}

// ---- goldens from transformers -----------------------------------------------------

struct GoldenCase {
  std::string family, config_case;
};

class DecoderGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(DecoderGolden, LogitsMatchTransformersFp32) {
  const auto& [family, config_case] = GetParam();
  auto ref = SafeTensorsFile::open(golden(family) + "/logits_" + config_case + ".safetensors");
  CausalLM lm = golden_model(family, config_case);
  torch::NoGradGuard no_grad;
  torch::Tensor logits = lm->forward_ids(ref->get("input_ids"), ref->get("attention_mask"), ref->get("position_ids"));
  EXPECT_LE(max_diff_valid(logits, ref->get("logits"), ref->get("attention_mask")), 1e-4);
  // Default positions from the mask are the same as transformers' generate() ones.
  torch::Tensor implicit = lm->forward_ids(ref->get("input_ids"), ref->get("attention_mask"));
  EXPECT_LE(max_diff_valid(implicit, ref->get("logits"), ref->get("attention_mask")), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderGolden,
                         ::testing::Values(GoldenCase{"llama", "default"}, GoldenCase{"llama", "linear"},
                                           GoldenCase{"llama", "dynamic"}, GoldenCase{"llama", "llama3"},
                                           GoldenCase{"llama", "yarn"}, GoldenCase{"mistral", "default"},
                                           GoldenCase{"qwen2", "default"}, GoldenCase{"qwen3", "default"},
                                           GoldenCase{"gemma3", "default"}, GoldenCase{"gemma3", "softcap"}),
                         [](const auto& info) { return info.param.family + "_" + info.param.config_case; });

TEST(DecoderGoldenBf16, LogitsCloseToTransformersBf16) {
  // bf16 keeps 8 mantissa bits; both sides round differently inside every
  // matmul, so the tolerance is relative to the logits' scale.
  for (std::string family : {"llama", "gemma3"}) {
    auto ref = SafeTensorsFile::open(golden(family) + "/logits_default.safetensors");
    CausalLM lm = golden_model(family, "default", torch::kBFloat16);
    torch::NoGradGuard no_grad;
    torch::Tensor logits = lm->forward_ids(ref->get("input_ids"), ref->get("attention_mask"), ref->get("position_ids"));
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
    double scale = ref->get("logits").abs().max().item<double>();
    double vs_bf16 = max_diff_valid(logits, ref->get("logits_bf16"), ref->get("attention_mask"));
    double vs_fp32 = max_diff_valid(logits, ref->get("logits"), ref->get("attention_mask"));
    EXPECT_LE(vs_bf16, 0.05 * scale) << family;
    EXPECT_LE(vs_fp32, 0.05 * scale) << family;
  }
}

// ---- KV cache ---------------------------------------------------------------------

TEST(DecoderKvCache, StepByStepDecodeEqualsFullForward) {
  for (std::string family : {"llama", "mistral", "gemma3", "qwen3"}) {
    auto ref = SafeTensorsFile::open(golden(family) + "/logits_default.safetensors");
    CausalLM lm = golden_model(family, "default");
    torch::NoGradGuard no_grad;
    torch::Tensor ids = ref->get("input_ids"), mask = ref->get("attention_mask");
    torch::Tensor full = lm->forward_ids(ids, mask);
    // Prefill 10 tokens (row 1 has 6 of them padding), then one token at a time.
    KvCache cache = lm->new_cache(2, 32);
    int64_t T = ids.size(1), prefix = 10;
    torch::Tensor first = lm->forward_ids(ids.narrow(1, 0, prefix), mask.narrow(1, 0, prefix), {}, &cache);
    EXPECT_LE(max_diff_valid(first, full.narrow(1, 0, prefix), mask.narrow(1, 0, prefix)), 1e-5) << family;
    for (int64_t t = prefix; t < T; ++t) {
      torch::Tensor step = lm->forward_step(ids.select(1, t), cache);
      EXPECT_LE((step - full.select(1, t)).abs().max().item<double>(), 1e-5) << family << " step " << t;
    }
    EXPECT_EQ(cache.used(), T);
    EXPECT_EQ(cache.lengths()[1].item<int64_t>(), T - 6);
  }
}

// A float16 cache (what quantized inference uses): the same steps within the
// rounding of the cached keys and values, through the fused kernel (AVX2 reads
// float16 as it lies) and the reference attention (which converts), and the
// cache holds float16.
TEST(DecoderKvCache, Float16CacheDecodesWithinItsRounding) {
  for (std::string family : {"llama", "gemma3"}) {
    auto ref = SafeTensorsFile::open(golden(family) + "/logits_default.safetensors");
    DecoderConfig c = DecoderConfig::from_file(golden(family) + "/config_default.json");
    CausalLM lm = make_causal_lm(c, *open_weights(golden(family)), {.kv_cache_dtype = torch::kHalf});
    torch::NoGradGuard no_grad;
    torch::Tensor ids = ref->get("input_ids"), mask = ref->get("attention_mask");
    torch::Tensor full = lm->forward_ids(ids, mask);
    const double scale = full.abs().max().item<double>();
    for (auto kernel : {e2llm::detail::CausalAttentionKernel::kAuto, e2llm::detail::CausalAttentionKernel::kReference}) {
      e2llm::detail::set_causal_attention_kernel(kernel);
      KvCache cache = lm->new_cache(2, 32);
      const int64_t T = ids.size(1), prefix = 10;
      lm->forward_ids(ids.narrow(1, 0, prefix), mask.narrow(1, 0, prefix), {}, &cache);
      EXPECT_EQ(cache.dtype(), torch::kHalf);
      double worst = 0;
      for (int64_t t = prefix; t < T; ++t)
        worst = std::max(worst, (lm->forward_step(ids.select(1, t), cache) - full.select(1, t)).abs().max().item<double>());
      EXPECT_LE(worst, 2e-3 * scale) << family;
      EXPECT_GT(worst, 0.0) << family << ": float16 must round something";
    }
    e2llm::detail::set_causal_attention_kernel(e2llm::detail::CausalAttentionKernel::kAuto);
  }
}

// float32 rows written into a float16 cache round as LibTorch's conversion does
// (a row width off the 8-value conversion blocks; v a transposed view, as the
// decoder passes it).
TEST(DecoderKvCache, Float16CacheRoundsRowsAsLibTorchDoes) {
  torch::manual_seed(21);
  KvCache cache(1, 2, 3, 10, 20, torch::kHalf);
  const torch::Tensor k = torch::randn({2, 3, 4, 20}) * 100, v = torch::randn({2, 4, 3, 20}).transpose(1, 2);
  cache.write(0, k.narrow(2, 0, 1), v.narrow(2, 0, 1));
  cache.advance(torch::ones({2, 1}, torch::kBool), torch::zeros({2, 1}, torch::kInt64));
  auto [K, V] = cache.write(0, k.narrow(2, 1, 3), v.narrow(2, 1, 3));
  EXPECT_EQ(K.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(K, k.to(torch::kHalf)));
  EXPECT_TRUE(torch::equal(V, v.to(torch::kHalf)));
}

TEST(DecoderKvCache, BatchOfDifferentLengthsDecodesLikeSingles) {
  CausalLM lm = golden_model("gemma3", "default");
  torch::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> prompts = {{5, 9, 14, 3, 77, 21, 8}, {42, 17}, {100, 4, 60, 33}};
  std::vector<std::vector<Segment>> batch;
  for (auto& p : prompts) batch.push_back({Segment::tokens(p)});
  KvCache cache = lm->new_cache(3, 20);
  torch::Tensor logits = lm->prefill(batch, cache);
  std::vector<torch::Tensor> steps = {logits};
  torch::Tensor next = torch::tensor({7, 11, 13}, torch::kInt64);
  for (int i = 0; i < 5; ++i) steps.push_back(lm->forward_step(next + i, cache));
  std::vector<KvCache> singles;
  for (size_t b = 0; b < prompts.size(); ++b) {
    KvCache& single = singles.emplace_back(lm->new_cache(1, 20));
    torch::Tensor l = lm->prefill({Segment::tokens(prompts[b])}, single);
    EXPECT_LE((l[0] - steps[0][b]).abs().max().item<double>(), 1e-5) << b;
    for (int i = 0; i < 5; ++i) {
      l = lm->forward_step(next.narrow(0, b, 1) + i, single);
      EXPECT_LE((l[0] - steps[i + 1][b]).abs().max().item<double>(), 1e-5) << b << " step " << i;
    }
  }
  // Dropping a finished sequence keeps the others' state.
  cache.select({2, 0});
  torch::Tensor after = lm->forward_step(torch::tensor({1, 2}, torch::kInt64), cache);
  ASSERT_EQ(after.size(0), 2);
  const torch::Tensor alone2 = lm->forward_step(torch::tensor({1}, torch::kInt64), singles[2]);
  const torch::Tensor alone0 = lm->forward_step(torch::tensor({2}, torch::kInt64), singles[0]);
  EXPECT_LE((after[0] - alone2[0]).abs().max().item<double>(), 1e-5);
  EXPECT_LE((after[1] - alone0[0]).abs().max().item<double>(), 1e-5);
}

TEST(DecoderKvCache, RejectsOverflowAndMismatchedBatches) {
  CausalLM lm = golden_model("llama", "default");
  torch::NoGradGuard no_grad;
  KvCache cache = lm->new_cache(1, 4);
  EXPECT_THROW(lm->forward_ids(torch::ones({1, 5}, torch::kInt64), {}, {}, &cache), Error);
  EXPECT_THROW(lm->forward_ids(torch::ones({2, 2}, torch::kInt64), {}, {}, &cache), Error);
  EXPECT_THROW(lm->forward_ids(torch::full({1, 2}, 500, torch::kInt64)), Error);  // id outside vocab
}

// ---- soft tokens ------------------------------------------------------------------

TEST(DecoderSoftTokens, TokenSegmentsEqualIdsAndSoftSegmentsAreNotScaled) {
  CausalLM lm = golden_model("gemma3", "default");
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = {3, 8, 20, 44, 9};
  torch::Tensor by_ids = lm->forward_ids(torch::tensor(ids).unsqueeze(0));
  // The same tokens fed as soft tokens: the scaled embeddings give the same logits.
  torch::Tensor soft = lm->embed(torch::tensor({8L, 20L}).unsqueeze(0)).squeeze(0);
  AssembledBatch a = lm->assemble({{Segment::tokens({3}), Segment::soft(soft), Segment::tokens({44, 9})}});
  EXPECT_EQ(a.positions[0][4].item<int64_t>(), 4);
  torch::Tensor by_segments = lm->forward_segments(a);
  EXPECT_LE((by_ids - by_segments).abs().max().item<double>(), 1e-5);
  // Unscaled raw embedding rows as soft tokens differ (Gemma scales only token embeddings).
  torch::Tensor raw = lm->named_parameters()["model.embed_tokens.weight"].index_select(0, torch::tensor({8L, 20L}));
  AssembledBatch b = lm->assemble({{Segment::tokens({3}), Segment::soft(raw), Segment::tokens({44, 9})}});
  EXPECT_GT((by_ids - lm->forward_segments(b)).abs().max().item<double>(), 1e-3);
}

TEST(DecoderSoftTokens, PrefillWithSoftTokensThenDecodeMatchesFullForward) {
  CausalLM lm = golden_model("llama", "default");
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  torch::Tensor soft = torch::randn({4, lm->hidden_size()});
  std::vector<Segment> segs = {Segment::tokens({2, 5}), Segment::soft(soft), Segment::tokens({7, 9, 11})};
  AssembledBatch a = lm->assemble({segs});
  torch::Tensor full = lm->forward_segments(a);
  KvCache cache = lm->new_cache(1, 16);
  torch::Tensor last = lm->prefill(segs, cache);
  EXPECT_LE((last[0] - full[0][8]).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(cache.lengths()[0].item<int64_t>(), 9);
  EXPECT_THROW(lm->assemble({{Segment::soft(torch::randn({2, 3}))}}), Error);
}

TEST(DecoderSoftTokens, GradientReachesSoftTokensAndMatchesFiniteDifferences) {
  DecoderConfig c = DecoderConfig::from_file(golden("qwen3") + "/config.json");
  auto weights = open_weights(golden("qwen3"));
  CausalLM lm = make_causal_lm(c, *weights);
  torch::manual_seed(1);
  torch::Tensor soft = torch::randn({3, c.hidden_size}, torch::kFloat64).to(torch::kFloat32).requires_grad_(true);
  auto loss_of = [&](const torch::Tensor& s) {
    AssembledBatch a = lm->assemble({{Segment::soft(s), Segment::tokens({5, 6, 7, 8}, /*is_target=*/true)}});
    return causal_lm_loss(lm->forward_segments(a), a.labels);
  };
  torch::Tensor loss = loss_of(soft);
  loss.backward();
  torch::Tensor grad = soft.grad();
  ASSERT_TRUE(grad.defined());
  EXPECT_GT(grad.abs().sum().item<double>(), 0);
  torch::NoGradGuard no_grad;
  for (auto [row, col] : {std::pair{0, 3}, {2, 17}, {1, 30}}) {
    double eps = 1e-2;
    torch::Tensor plus = soft.detach().clone(), minus = soft.detach().clone();
    plus[row][col] += eps;
    minus[row][col] -= eps;
    double numeric = (loss_of(plus).item<double>() - loss_of(minus).item<double>()) / (2 * eps);
    EXPECT_NEAR(grad[row][col].item<double>(), numeric, 2e-3 + 0.02 * std::abs(numeric)) << row << "," << col;
  }
}

TEST(DecoderSoftTokens, LossCountsOnlyTargetTokens) {
  CausalLM lm = golden_model("llama", "default");
  torch::NoGradGuard no_grad;
  AssembledBatch a = lm->assemble({{Segment::tokens({4, 5}), Segment::tokens({6, 7, 8}, true)},
                                   {Segment::tokens({9, 10, 11}, true)}});
  EXPECT_EQ(a.labels[0][1].item<int64_t>(), -100);
  EXPECT_EQ(a.labels[0][2].item<int64_t>(), 6);
  EXPECT_EQ(a.labels[1][4].item<int64_t>(), -100);  // right padding
  torch::Tensor logits = lm->forward_segments(a);
  // By hand: mean of -log p(label) over the 5 counted next-token predictions.
  torch::Tensor logp = torch::log_softmax(logits, -1);
  double sum = 0;
  int count = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 1; t < a.labels.size(1); ++t) {
      int64_t y = a.labels[b][t].item<int64_t>();
      if (y == -100) continue;
      sum -= logp[b][t - 1][y].item<double>();
      ++count;
    }
  EXPECT_EQ(count, 5);  // 3 + 2: the first target of row 1 has no prediction before it
  EXPECT_NEAR(causal_lm_loss(logits, a.labels).item<double>(), sum / count, 1e-5);
}

// ---- training support ------------------------------------------------------------

TEST(DecoderTraining, ActivationCheckpointingGivesTheSameGradients) {
  auto grads = [&](bool checkpoint) {
    DecoderConfig c = DecoderConfig::from_file(golden("gemma3") + "/config.json");
    auto lm = make_causal_lm(c, *open_weights(golden("gemma3")), {.activation_checkpointing = checkpoint});
    torch::manual_seed(5);
    nn::apply_lora(*lm, {.rank = 2, .alpha = 4, .dropout = 0.1, .target_modules = {"q_proj", "down_proj"}});
    for (auto& p : lm->named_parameters())
      if (p.key().find("lora_B") != std::string::npos) p.value().data().normal_(0, 0.1);
    lm->train();
    torch::Tensor soft = torch::ones({2, c.hidden_size}).requires_grad_(true);
    AssembledBatch a = lm->assemble({{Segment::soft(soft), Segment::tokens({5, 6, 7}, true)}});
    torch::manual_seed(9);  // same dropout masks in both runs
    causal_lm_loss(lm->forward_segments(a), a.labels).backward();
    std::vector<torch::Tensor> out = {soft.grad()};
    for (auto& p : nn::trainable_parameters(*lm)) out.push_back(p.grad());
    return out;
  };
  auto plain = grads(false), checkpointed = grads(true);
  ASSERT_EQ(plain.size(), checkpointed.size());
  ASSERT_GT(plain.size(), 1u);
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_TRUE(plain[i].defined() && checkpointed[i].defined()) << i;
    EXPECT_GT(plain[i].abs().max().item<double>(), 0) << i;
    EXPECT_LE((plain[i] - checkpointed[i]).abs().max().item<double>(), 1e-5) << i;
  }
}

// ---- random model writer ---------------------------------------------------------

TEST(DecoderWriter, WritesLoadableModelsOfEveryFamily) {
  const char* keep = std::getenv("E2LLM_KEEP_RANDOM_DECODERS");  // for the Python-side check
  TempDir dir;
  for (auto family : {DecoderFamily::Llama, DecoderFamily::Mistral, DecoderFamily::Qwen2, DecoderFamily::Qwen3,
                      DecoderFamily::Gemma3}) {
    std::string folder = (keep ? std::string(keep) : dir.path()) + "/" + to_string(family);
    write_random_decoder(folder, tiny_decoder_config(family), 7);
    CausalLM lm = load_causal_lm(folder);
    EXPECT_EQ(lm->config().to_json(), tiny_decoder_config(family).to_json());
    torch::NoGradGuard no_grad;
    torch::Tensor logits = lm->forward_ids(torch::arange(12, torch::kInt64).unsqueeze(0));
    EXPECT_EQ(logits.sizes(), torch::IntArrayRef({1, 12, 256}));
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    EXPECT_GT(logits.std().item<double>(), 0.1) << to_string(family);  // not a degenerate model
  }
}
