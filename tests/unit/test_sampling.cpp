// Sampling: the processed scores equal transformers' logits processors on the
// same logits (golden), plus properties of the seeded sampler.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/generate/sampling.h"
#include "test_util.h"

namespace e2llm {
namespace {

SamplingConfig config_from_json(const nlohmann::json& j) {
  SamplingConfig c;
  c.greedy = j.at("greedy");
  c.temperature = j.at("temperature");
  c.top_k = j.at("top_k");
  c.top_p = j.at("top_p");
  c.min_p = j.at("min_p");
  c.repetition_penalty = j.at("repetition_penalty");
  return c;
}

// -inf must match -inf exactly; finite values to float rounding.
void expect_same_scores(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  torch::Tensor got_inf = torch::isinf(got), want_inf = torch::isinf(want);
  EXPECT_TRUE(torch::equal(got_inf, want_inf)) << what << ": filtered sets differ";
  torch::Tensor finite = ~want_inf;
  EXPECT_TRUE(torch::allclose(got.masked_select(finite), want.masked_select(finite), 1e-5, 1e-6))
      << what;
}

TEST(Sampling, ProcessedScoresEqualTransformers) {
  const std::string dir = test::golden_dir() + "/generation";
  auto golden = SafeTensorsFile::open(dir + "/sampling.safetensors");
  torch::Tensor logits = golden->get("logits");
  torch::Tensor seen = golden->get("seen_ids");
  nlohmann::json cases = read_json_file(dir + "/sampling_cases.json");
  ASSERT_GE(cases.size(), 6u);
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    torch::Tensor got = process_logits(logits, seen, config_from_json(c));
    expect_same_scores(got, golden->get("out." + name), name);
  }
}

TEST(Sampling, OneDimensionalLogitsMatchBatchRow) {
  torch::manual_seed(3);
  torch::Tensor logits = torch::randn({2, 50});
  torch::Tensor seen = torch::randint(0, 50, {2, 7});
  SamplingConfig c;
  c.greedy = false;
  c.top_k = 10;
  c.top_p = 0.9;
  c.repetition_penalty = 1.5;
  torch::Tensor batch = process_logits(logits, seen, c);
  torch::Tensor row = process_logits(logits[1], seen[1], c);
  EXPECT_TRUE(torch::equal(batch[1], row));
}

TEST(Sampling, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  torch::Tensor logits = torch::tensor({2.0f, -2.0f, 1.0f, 0.0f});
  torch::Tensor seen = torch::tensor({0, 1, 1, 3, 9}, torch::kInt64);  // 9 is beyond the vocab
  torch::Tensor out = apply_repetition_penalty(logits, seen, 2.0);
  EXPECT_FLOAT_EQ(out[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(out[1].item<float>(), -4.0f);  // once, although seen twice
  EXPECT_FLOAT_EQ(out[2].item<float>(), 1.0f);   // unseen: unchanged
  EXPECT_FLOAT_EQ(out[3].item<float>(), 0.0f);
}

TEST(Sampling, TopKKeepsAtLeastMinTokens) {
  torch::Tensor logits = torch::tensor({1.0f, 4.0f, 3.0f, 2.0f});
  torch::Tensor out = apply_top_k(logits, 1, 3);
  EXPECT_EQ(torch::isinf(out).sum().item<int64_t>(), 1);
  EXPECT_TRUE(std::isinf(out[0].item<float>()));
}

TEST(Sampling, GreedyIsArgmaxAndSeedReproducible) {
  torch::manual_seed(7);
  torch::Tensor logits = torch::randn({100});
  SamplingConfig greedy;
  Sampler g(greedy);
  EXPECT_EQ(g.next(logits, {}), logits.argmax().item<int64_t>());

  SamplingConfig c;
  c.greedy = false;
  c.temperature = 1.5;
  c.seed = 42;
  auto draw = [&](uint64_t seed) {
    c.seed = seed;
    Sampler s(c);
    std::vector<int64_t> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(s.next(logits, {}));
    return ids;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampling, DrawsOnlyFromKeptTokensWithTheRightFrequencies) {
  // Two tokens survive top-k = 2 with probabilities ~0.731 / 0.269.
  torch::Tensor logits = torch::tensor({1.0f, 0.0f, -5.0f, -6.0f});
  SamplingConfig c;
  c.greedy = false;
  c.top_k = 2;
  c.seed = 1;
  Sampler s(c);
  int first = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    int64_t id = s.next(logits, {});
    ASSERT_TRUE(id == 0 || id == 1) << id;
    first += id == 0;
  }
  EXPECT_NEAR(first / double(draws), 1.0 / (1.0 + std::exp(-1.0)), 0.03);
}

// transformers' own test of NoRepeatNGramLogitsProcessor, values and all.
TEST(Sampling, NoRepeatNGramBansTheTokensThatWouldRepeatAnNGram) {
  const torch::Tensor seen = torch::tensor({1, 1, 2, 1, 0, 1, 0, 1}, torch::kInt64).view({2, 4});
  const torch::Tensor scores = torch::ones({2, 3});
  auto banned = [&](int64_t n) {
    torch::Tensor inf = torch::isinf(apply_no_repeat_ngram(scores, seen, n));
    return std::vector<bool>(inf.data_ptr<bool>(), inf.data_ptr<bool>() + inf.numel());
  };
  // 2-grams: (1,1) and (1,2) seen after a 1 in row 0, (1,0) in row 1.
  EXPECT_EQ(banned(2), (std::vector<bool>{false, true, true, true, false, false}));
  // 3-grams: none of row 0 follows (2,1); (0,1,0) in row 1.
  EXPECT_EQ(banned(3), (std::vector<bool>{false, false, false, true, false, false}));
  // 1: every seen token; longer than what was seen + 1: nothing.
  EXPECT_EQ(banned(1), (std::vector<bool>{false, true, true, true, true, false}));
  EXPECT_EQ(banned(6), (std::vector<bool>(6, false)));
  EXPECT_TRUE(torch::equal(apply_no_repeat_ngram(scores, seen, 0), scores));
  // 1-D logits with 1-D ids match the batch row; ids beyond the vocabulary ban nothing.
  torch::Tensor row = apply_no_repeat_ngram(torch::ones({3}), torch::tensor({0, 1, 0, 1}, torch::kInt64), 2);
  EXPECT_TRUE(torch::equal(torch::isinf(row), torch::tensor({true, false, false})));
  torch::Tensor beyond = apply_no_repeat_ngram(torch::ones({3}), torch::tensor({1, 7, 1}, torch::kInt64), 2);
  EXPECT_FALSE(torch::isinf(beyond).any().item<bool>());
}

TEST(Sampling, GreedyChainAppliesTheNGramBanAfterThePenalty) {
  // Token 2 leads but would repeat the 2-gram (1, 2): the runner-up wins.
  const torch::Tensor logits = torch::tensor({0.5f, 1.0f, 3.0f, 2.0f});
  SamplingConfig c;
  c.no_repeat_ngram_size = 2;
  Sampler sampler(c);
  EXPECT_EQ(sampler.next(logits, {1, 2, 0, 1}), 3);
  EXPECT_EQ(Sampler(SamplingConfig{}).next(logits, {1, 2, 0, 1}), 2);
}

TEST(Sampling, RejectsBadSettings) {
  SamplingConfig c;
  c.temperature = 0;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.top_p = 1.5;
  EXPECT_THROW(Sampler{c}, Error);
  c = {};
  c.min_p = -0.1;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.no_repeat_ngram_size = -1;
  EXPECT_THROW(c.validate(), Error);
  EXPECT_THROW(apply_top_k(torch::zeros({2, 3, 4}), 2), Error);
}

}  // namespace
}  // namespace e2llm
