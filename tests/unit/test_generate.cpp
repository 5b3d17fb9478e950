// generate(): the cached decode loop equals a full-forward greedy loop on a
// tiny random model, soft-token prompts, stop handling and UTF-8-safe streaming.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "e2llm/core/error.h"
#include "e2llm/generate/generate.h"
#include "generate/generating_sequence.h"
#include "test_util.h"
#include "support/random_models.h"

namespace e2llm {
namespace {

// Every token adds the next byte of a UTF-8 text, so characters arrive split
// across tokens (the hard case for streaming).
class ByteByByteDecoder : public TokenTextDecoder {
 public:
  std::string push(int64_t) override { return std::string(1, text_[next_++ % text_.size()]); }

 private:
  const std::string text_ = "caf\xC3\xA9 \xE5\x8C\x97\xE4\xBA\xAC \xF0\x9F\x98\x80 ok ";
  size_t next_ = 0;
};

class Generate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    write_random_decoder(dir_->path(), tiny_decoder_config(DecoderFamily::Llama), 11);
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override { lm_ = load_causal_lm(dir_->path()); }

  // Greedy reference without a cache: the whole sequence through forward_ids each step.
  std::vector<int64_t> greedy_without_cache(std::vector<int64_t> ids, int64_t max_new) {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> out;
    const auto& eos = lm_->eos_token_ids();
    for (int64_t i = 0; i < max_new; ++i) {
      torch::Tensor logits = lm_->forward_ids(torch::tensor(ids).unsqueeze(0));
      const int64_t next = logits[0][-1].argmax().item<int64_t>();
      out.push_back(next);
      ids.push_back(next);
      if (std::find(eos.begin(), eos.end(), next) != eos.end()) break;
    }
    return out;
  }

  GenerateOptions options(int64_t max_new) {
    GenerateOptions o;
    o.stop.max_new_tokens = max_new;
    return o;
  }

  static test::TempDir* dir_;
  CausalLM lm_;
  const std::vector<int64_t> prompt_ = {0, 17, 42, 99, 5, 200, 31};
};
test::TempDir* Generate::dir_ = nullptr;

TEST_F(Generate, GreedyWithCacheEqualsFullForward) {
  ByteByByteDecoder decoder;
  GenerateResult r = generate(*lm_, {Segment::tokens(prompt_)}, decoder, options(20));
  EXPECT_EQ(r.ids, greedy_without_cache(prompt_, 20));
  EXPECT_EQ(r.prompt_tokens, static_cast<int64_t>(prompt_.size()));
  EXPECT_EQ(r.decode_steps, static_cast<int64_t>(r.ids.size()) - 1);
  EXPECT_GT(r.prefill_tokens_per_second(), 0);
}

TEST_F(Generate, SoftTokenPromptEqualsTokenPrompt) {
  torch::Tensor embeddings;
  {
    torch::NoGradGuard no_grad;
    embeddings = lm_->embed(torch::tensor(prompt_).unsqueeze(0))[0];
  }
  std::vector<int64_t> head(prompt_.begin(), prompt_.begin() + 3), tail(prompt_.begin() + 3, prompt_.end());
  ByteByByteDecoder d1, d2;
  GenerateOptions o = options(12);
  GenerateResult token = generate(*lm_, {Segment::tokens(prompt_)}, d1, o);
  // The repetition penalty sees no ids inside soft tokens, so keep it off here.
  GenerateResult mixed = generate(
      *lm_, {Segment::tokens(head), Segment::soft(embeddings.narrow(0, 3, tail.size()))}, d2, o);
  EXPECT_EQ(mixed.ids, token.ids);
}

TEST_F(Generate, StreamsWholeCharactersOnlyAndTheyAddUpToTheText) {
  ByteByByteDecoder decoder;
  std::vector<std::string> pieces;
  GenerateOptions o = options(40);
  o.stop.stop_token_ids = {};
  o.on_text = [&](std::string_view piece) { pieces.emplace_back(piece); };
  GenerateResult r = generate(*lm_, {Segment::tokens(prompt_)}, decoder, o);
  std::string joined;
  for (const std::string& p : pieces) {
    EXPECT_EQ(complete_utf8_prefix(p, p.size()), p.size()) << "broken character streamed";
    joined += p;
  }
  EXPECT_EQ(joined, r.text);
  EXPECT_GT(pieces.size(), 3u);
}

TEST_F(Generate, StopsAtStopTokenAndStopString) {
  ByteByByteDecoder d1;
  GenerateResult full = generate(*lm_, {Segment::tokens(prompt_)}, d1, options(10));
  ASSERT_GE(full.ids.size(), 4u);
  // A stop token: generation ends at its first occurrence, included in ids, not in text.
  GenerateOptions o = options(10);
  o.stop.stop_token_ids = {full.ids[3]};
  ByteByByteDecoder d2;
  GenerateResult stopped = generate(*lm_, {Segment::tokens(prompt_)}, d2, o);
  const auto first = std::find(full.ids.begin(), full.ids.end(), full.ids[3]) - full.ids.begin();
  EXPECT_EQ(stopped.stop_reason, StopReason::kStopToken);
  EXPECT_EQ(stopped.ids, std::vector<int64_t>(full.ids.begin(), full.ids.begin() + first + 1));
  EXPECT_EQ(stopped.text, std::string("caf\xC3\xA9 ").substr(0, first));
  // A stop string across tokens ("\xC3\xA9 " comes from two tokens): cut, not streamed.
  o = options(10);
  o.stop.stop_strings = {"\xC3\xA9 "};
  o.stop.stop_token_ids = {};
  o.stop.ignore_eos = true;  // so the stop string, not the random model's EOS, ends it
  std::string streamed;
  o.on_text = [&](std::string_view piece) { streamed += piece; };
  ByteByByteDecoder d3;
  GenerateResult by_string = generate(*lm_, {Segment::tokens(prompt_)}, d3, o);
  EXPECT_EQ(by_string.stop_reason, StopReason::kStopString);
  EXPECT_EQ(by_string.text, "caf");
  EXPECT_EQ(streamed, "caf");
  EXPECT_EQ(by_string.ids.size(), 6u);
}

// The same random model, told that the token it emits fourth is its EOS: it
// stops there, unless ignore_eos keeps it going to max_new_tokens.
TEST_F(Generate, IgnoreEosGeneratesExactlyMaxNewTokens) {
  GenerateOptions o = options(12);
  o.stop.ignore_eos = true;
  ByteByByteDecoder d1;
  GenerateResult full = generate(*lm_, {Segment::tokens(prompt_)}, d1, o);
  ASSERT_EQ(full.ids.size(), 12u);
  EXPECT_EQ(full.stop_reason, StopReason::kMaxNewTokens);

  DecoderConfig config = tiny_decoder_config(DecoderFamily::Llama);
  config.eos_token_ids = {full.ids[3]};
  test::TempDir dir;
  write_random_decoder(dir.path(), config, 11);
  CausalLM with_eos = load_causal_lm(dir.path());
  ByteByByteDecoder d2;
  GenerateResult stopped = generate(*with_eos, {Segment::tokens(prompt_)}, d2, options(12));
  EXPECT_EQ(stopped.stop_reason, StopReason::kStopToken);
  EXPECT_LE(stopped.ids.size(), 4u);
  ByteByByteDecoder d3;
  GenerateResult ignored = generate(*with_eos, {Segment::tokens(prompt_)}, d3, o);
  EXPECT_EQ(ignored.ids, full.ids);
  EXPECT_EQ(ignored.stop_reason, StopReason::kMaxNewTokens);
}

TEST_F(Generate, NoRepeatNGramOfOneNeverRepeatsAToken) {
  GenerateOptions o = options(24);
  o.stop.ignore_eos = true;
  o.sampling.no_repeat_ngram_size = 1;
  ByteByByteDecoder d;
  GenerateResult r = generate(*lm_, {Segment::tokens(prompt_)}, d, o);
  ASSERT_EQ(r.ids.size(), 24u);
  std::vector<int64_t> all = prompt_;
  all.insert(all.end(), r.ids.begin(), r.ids.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a token came twice";
  // Plain greedy on this random model does repeat, so the ban did something.
  ByteByByteDecoder d2;
  GenerateOptions plain = options(24);
  plain.stop.ignore_eos = true;
  std::vector<int64_t> greedy = generate(*lm_, {Segment::tokens(prompt_)}, d2, plain).ids;
  std::vector<int64_t> greedy_all = prompt_;
  greedy_all.insert(greedy_all.end(), greedy.begin(), greedy.end());
  std::sort(greedy_all.begin(), greedy_all.end());
  EXPECT_NE(std::adjacent_find(greedy_all.begin(), greedy_all.end()), greedy_all.end());
}

TEST_F(Generate, SeededSamplingIsReproducible) {
  GenerateOptions o = options(16);
  o.sampling.greedy = false;
  o.sampling.temperature = 2.0;
  o.sampling.seed = 5;
  auto run = [&](uint64_t seed) {
    o.sampling.seed = seed;
    ByteByByteDecoder d;
    return generate(*lm_, {Segment::tokens(prompt_)}, d, o).ids;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST_F(Generate, MaxNewTokensAndEmptyPrompt) {
  GenerateOptions o = options(3);
  o.stop.stop_token_ids = {};
  o.stop.ignore_eos = true;
  ByteByByteDecoder d;
  GenerateResult r = generate(*lm_, {Segment::tokens(prompt_)}, d, o);
  EXPECT_EQ(r.ids.size(), 3u);
  EXPECT_EQ(r.stop_reason, StopReason::kMaxNewTokens);
  EXPECT_TRUE(generate(*lm_, {Segment::tokens(prompt_)}, d, options(0)).ids.empty());
  EXPECT_THROW(generate(*lm_, {Segment::tokens({})}, d, options(3)), Error);
}

// However many tokens are asked for, the answer ends with the decoder's
// window (and its KV cache is sized for the window, not for the request); a
// prompt longer than the window is refused with both lengths.
TEST_F(Generate, TheAnswerEndsWithTheWindowAndALongerPromptIsRefused) {
  const int64_t window = lm_->config().max_position_embeddings;
  std::vector<int64_t> near_full;
  for (int64_t i = 0; i < window - 5; ++i) near_full.push_back(prompt_[static_cast<size_t>(i) % prompt_.size()]);
  GenerateOptions o = options(10'000'000);  // a KV cache that size would need ~10 GiB
  o.stop.ignore_eos = true;
  ByteByByteDecoder d;
  GenerateResult r = generate(*lm_, {Segment::tokens(near_full)}, d, o);
  EXPECT_EQ(r.ids.size(), 5u);
  EXPECT_EQ(r.stop_reason, StopReason::kWindowFull);
  GenerateOptions five = options(5);
  five.stop.ignore_eos = true;
  ByteByByteDecoder d2;
  GenerateResult asked = generate(*lm_, {Segment::tokens(near_full)}, d2, five);
  EXPECT_EQ(r.ids, asked.ids);
  EXPECT_EQ(asked.stop_reason, StopReason::kMaxNewTokens);  // both limits at once: the one asked for

  // The KV cache is sized for what the window leaves, not for the request.
  GeneratingSequence sequence(*lm_, {Segment::tokens(near_full)}, d, o);
  EXPECT_EQ(sequence.token_budget(), 5);

  for (const int64_t length : {window, window + 1}) {  // all of it or more: no room for an answer
    std::vector<int64_t> too_long = near_full;
    too_long.resize(static_cast<size_t>(length), 17);
    try {
      generate(*lm_, {Segment::tokens(too_long)}, d, options(1));
      ADD_FAILURE() << "a prompt of " << length << " positions was accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(fmt::format("the prompt takes {} positions, {} the decoder's window "
                                                            "of {}: no room for an answer",
                                                            length, length == window ? "all of" : "past", window)));
    }
  }
}

TEST(Utf8, CompletePrefixCutsOnlyIncompleteTails) {
  const std::string s = "a\xE5\x8C\x97";  // 'a' + 北
  EXPECT_EQ(complete_utf8_prefix(s, 4), 4u);
  EXPECT_EQ(complete_utf8_prefix(s, 3), 1u);
  EXPECT_EQ(complete_utf8_prefix(s, 2), 1u);
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98", 3), 0u);
  EXPECT_EQ(complete_utf8_prefix("\x80x", 2), 2u);  // stray bytes are not held forever
}

}  // namespace
}  // namespace e2llm
