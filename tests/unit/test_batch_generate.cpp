// Continuous batching (BatchGenerator, KvCache::append): sequences that join a
// running batch at different steps, with different prompt lengths and budgets,
// get exactly the tokens and text generate() gives each alone; a sequence
// whose callback throws leaves without disturbing the others.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "e2llm/core/error.h"
#include "e2llm/generate/batch_generate.h"
#include "e2llm/generate/generate.h"
#include "support/random_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

// Text "<id> " per token: the text shows exactly which ids came out.
class IdDecoder : public TokenTextDecoder {
 public:
  std::string push(int64_t id) override { return std::to_string(id) + " "; }
};

class BatchGenerate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    write_random_decoder(dir_->path(), tiny_decoder_config(DecoderFamily::Llama), 21);
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override { lm_ = load_causal_lm(dir_->path()); }

  static GenerateOptions options(int64_t max_new, uint64_t seed = 0) {
    GenerateOptions o;
    o.stop.max_new_tokens = max_new;
    if (seed) {
      o.sampling.greedy = false;
      o.sampling.temperature = 0.8;
      o.sampling.seed = seed;
    }
    return o;
  }
  GenerateResult alone(const std::vector<int64_t>& prompt, const GenerateOptions& o) {
    IdDecoder decoder;
    return generate(*lm_, {Segment::tokens(prompt)}, decoder, o);
  }
  BatchGenerator batch() {
    return BatchGenerator(*lm_, [] { return std::make_unique<IdDecoder>(); });
  }

  static test::TempDir* dir_;
  CausalLM lm_;
};
test::TempDir* BatchGenerate::dir_ = nullptr;

TEST_F(BatchGenerate, SequencesJoiningAtDifferentStepsGetTheirSoloTokens) {
  const std::vector<std::vector<int64_t>> prompts = {
      {1, 17, 42, 99, 5}, {3, 8}, {200, 31, 7, 7, 12, 90, 4, 66, 18}, {9, 9, 9, 2}};
  const std::vector<GenerateOptions> opts = {options(12), options(5), options(9, 77), options(14)};
  const std::vector<int> join_at_step = {0, 0, 3, 6};
  std::map<size_t, GenerateResult> finished;
  std::map<size_t, std::string> streamed;
  BatchGenerator b(*lm_, [] { return std::make_unique<IdDecoder>(); });
  size_t joined = 0;
  for (int step = 0; joined < prompts.size() || !b.empty(); ++step) {
    while (joined < prompts.size() && join_at_step[joined] <= step) {
      const size_t i = joined++;
      GenerateOptions o = opts[i];
      o.on_text = [&streamed, i](std::string_view t) { streamed[i] += t; };
      b.add({Segment::tokens(prompts[i])}, o, [&finished, i](GenerateResult r) { finished[i] = std::move(r); },
            [](std::exception_ptr) { ADD_FAILURE() << "a sequence failed"; });
    }
    b.step();
    ASSERT_LT(step, 100);
  }
  ASSERT_EQ(finished.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const GenerateResult solo = alone(prompts[i], opts[i]);
    EXPECT_EQ(finished[i].ids, solo.ids) << "sequence " << i;
    EXPECT_EQ(finished[i].text, solo.text) << "sequence " << i;
    EXPECT_EQ(streamed[i], solo.text) << "sequence " << i;
    EXPECT_EQ(finished[i].stop_reason, solo.stop_reason) << "sequence " << i;
    EXPECT_EQ(finished[i].prompt_tokens, static_cast<int64_t>(prompts[i].size()));
    EXPECT_EQ(finished[i].decode_steps, solo.decode_steps) << "sequence " << i;
  }
}

TEST_F(BatchGenerate, AThrowingCallbackDropsOnlyItsSequence) {
  const std::vector<int64_t> a = {1, 2, 3}, b_prompt = {4, 5, 6, 7};
  BatchGenerator b = batch();
  GenerateOptions throwing = options(10);
  int pieces = 0;
  throwing.on_text = [&pieces](std::string_view) {
    if (++pieces == 3) throw std::runtime_error("client went away");
  };
  std::string error;
  GenerateResult other;
  b.add({Segment::tokens(a)}, throwing, [](GenerateResult) { ADD_FAILURE() << "should have failed"; },
        [&error](std::exception_ptr e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            error = x.what();
          }
        });
  b.add({Segment::tokens(b_prompt)}, options(10), [&other](GenerateResult r) { other = std::move(r); },
        [](std::exception_ptr) { ADD_FAILURE() << "the other sequence failed"; });
  while (!b.empty()) b.step();
  EXPECT_EQ(error, "client went away");
  EXPECT_EQ(other.ids, alone(b_prompt, options(10)).ids);
}

TEST_F(BatchGenerate, AbandonFailsEverySequenceAndZeroBudgetFinishesAtOnce) {
  BatchGenerator b = batch();
  int failed = 0, done = 0;
  b.add({Segment::tokens({1, 2})}, options(0), [&done](GenerateResult r) { ++done; EXPECT_TRUE(r.ids.empty()); },
        [&failed](std::exception_ptr) { ++failed; });
  EXPECT_EQ(done, 1);
  EXPECT_TRUE(b.empty());
  for (int i = 0; i < 3; ++i)
    b.add({Segment::tokens({1, 2, 3 + i})}, options(20), [&done](GenerateResult) { ++done; },
          [&failed](std::exception_ptr) { ++failed; });
  b.step();
  EXPECT_EQ(b.size(), 3u);
  b.abandon(std::make_exception_ptr(std::runtime_error("stopping")));
  EXPECT_EQ(failed, 3);
  EXPECT_EQ(done, 1);
  EXPECT_TRUE(b.empty());
}

// A prompt state (E2LLM: a document as read) serves any number of prompts
// that begin with its segments: each gets the tokens of prefilling the whole
// prompt, alone or in a batch, and the state itself never changes.
TEST_F(BatchGenerate, APromptStateContinuesLikeTheWholePromptAndStaysAsItWas) {
  torch::manual_seed(5);
  const std::vector<Segment> document = {Segment::tokens({1, 17, 42, 99}),
                                         Segment::soft(torch::randn({6, lm_->config().hidden_size}))};
  const PromptState state = prefill_state(*lm_, document);
  ASSERT_EQ(state.positions(), 10);
  const std::vector<std::vector<int64_t>> questions = {{5, 6}, {200, 3, 8, 8}, {7}};
  BatchGenerator b = batch();
  std::map<size_t, GenerateResult> batched;
  std::vector<GenerateResult> wholes;
  for (size_t i = 0; i < questions.size(); ++i) {
    std::vector<Segment> prompt = document;
    prompt.push_back(Segment::tokens(questions[i]));
    const GenerateOptions o = options(8, i == 1 ? 99 : 0);
    IdDecoder whole_decoder, continued_decoder;
    const GenerateResult whole = generate(*lm_, prompt, whole_decoder, o);
    const GenerateResult continued = generate(*lm_, prompt, continued_decoder, o, &state);
    EXPECT_EQ(continued.ids, whole.ids) << "question " << i;
    EXPECT_EQ(continued.prompt_tokens, whole.prompt_tokens);
    b.add(prompt, o, [&batched, i](GenerateResult r) { batched[i] = std::move(r); },
          [](std::exception_ptr) { ADD_FAILURE() << "a sequence failed"; }, &state);
    wholes.push_back(whole);
  }
  while (!b.empty()) b.step();
  for (size_t i = 0; i < questions.size(); ++i) EXPECT_EQ(batched[i].ids, wholes[i].ids) << "question " << i;
  EXPECT_EQ(state.positions(), 10);
  EXPECT_EQ(state.cache.capacity(), 10);  // copies grew, the state did not

  // A prompt whose first segments are not the state's, or that ends with them, is refused.
  IdDecoder decoder;
  const std::vector<Segment> other = {Segment::tokens({1, 17, 42}),
                                      Segment::soft(torch::randn({6, lm_->config().hidden_size})), Segment::tokens({5})};
  EXPECT_THROW(generate(*lm_, other, decoder, options(4), &state), Error);
  EXPECT_THROW(generate(*lm_, document, decoder, options(4), &state), Error);
}

// Prompts that share a start with the one before prefill only the rest, and
// get the tokens of prefilling them whole: a longer, shorter, equal or
// unrelated prompt alike.
TEST_F(BatchGenerate, PromptPrefixCacheReusesWhatPromptsShareAndAnswersAsAlone) {
  PromptPrefixCache cache(*lm_);
  const std::vector<int64_t> document = {1, 17, 42, 99, 5, 31, 7, 7, 12};
  auto with = [&](std::vector<int64_t> tail) {
    std::vector<int64_t> ids = document;
    ids.insert(ids.end(), tail.begin(), tail.end());
    return ids;
  };
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> asked = {
      {with({3, 8}), 0},             // nothing kept yet
      {with({4, 4, 4}), 9},          // the document
      {with({4, 4, 4}), 11},         // all but the last token
      {with({4, 4}), 10},            // a prefix of the kept tokens
      {{1, 17, 42, 200, 6}, 3},      // a prompt that leaves the document early
      {{250, 2}, 0},                 // nothing in common
      {{9}, 0}};                     // one token: nothing to keep
  for (size_t i = 0; i < asked.size(); ++i) {
    const GenerateOptions o = options(6, i == 2 ? 13 : 0);
    IdDecoder decoder;
    const GenerateResult cached = cache.generate(asked[i].first, decoder, o);
    EXPECT_EQ(cached.ids, alone(asked[i].first, o).ids) << "prompt " << i;
    EXPECT_EQ(cached.prompt_tokens, static_cast<int64_t>(asked[i].first.size())) << "prompt " << i;
    EXPECT_EQ(cache.reused_tokens(), asked[i].second) << "prompt " << i;
  }
}

TEST(KvCacheResized, CopiesTheSlotsInUseIntoTheNewRoomAndLeavesTheOriginal) {
  KvCache a(1, 1, 1, 3, 2);
  a.write(0, torch::full({1, 1, 3, 2}, 4.0), torch::full({1, 1, 3, 2}, 5.0));
  a.advance(torch::ones({1, 3}, torch::kBool), torch::arange(3).view({1, 3}));
  KvCache b = a.resized(5);
  EXPECT_EQ(b.capacity(), 5);
  EXPECT_EQ(b.used(), 3);
  EXPECT_TRUE(torch::equal(b.lengths(), a.lengths()));
  auto [k, v] = b.write(0, torch::zeros({1, 1, 2, 2}), torch::zeros({1, 1, 2, 2}));
  EXPECT_TRUE(torch::equal(k.narrow(2, 0, 3), torch::full({1, 1, 3, 2}, 4.0)));
  EXPECT_TRUE(torch::equal(v.narrow(2, 0, 3), torch::full({1, 1, 3, 2}, 5.0)));
  b.advance(torch::ones({1, 2}, torch::kBool), torch::arange(3, 5).view({1, 2}));
  EXPECT_EQ(b.lengths().item<int64_t>(), 5);
  EXPECT_EQ(a.lengths().item<int64_t>(), 3);  // the original is untouched
  EXPECT_EQ(a.capacity(), 3);
  EXPECT_EQ(a.nbytes(), 2u * 3 * 2 * sizeof(float));
  EXPECT_THROW(a.resized(2), Error);
}

TEST(KvCacheAppend, KeepsEachSidesSlotsAndMarksThePaddingInvalid) {
  KvCache a(2, 1, 1, 6, 2), b(2, 2, 1, 4, 2);
  a.write(0, torch::ones({1, 1, 3, 2}), torch::ones({1, 1, 3, 2}));
  a.write(1, torch::ones({1, 1, 3, 2}), torch::ones({1, 1, 3, 2}));
  a.advance(torch::ones({1, 3}, torch::kBool), torch::arange(3).view({1, 3}));
  b.write(0, torch::full({2, 1, 1, 2}, 2.0), torch::full({2, 1, 1, 2}, 2.0));
  b.write(1, torch::full({2, 1, 1, 2}, 2.0), torch::full({2, 1, 1, 2}, 2.0));
  b.advance(torch::ones({2, 1}, torch::kBool), torch::zeros({2, 1}, torch::kInt64));
  a.append(b);
  EXPECT_EQ(a.batch_size(), 3);
  EXPECT_EQ(a.used(), 3);
  EXPECT_EQ(a.capacity(), 3 + 3);  // used + the larger free room (a: 3, b: 3)
  EXPECT_TRUE(torch::equal(a.slot_valid(), torch::tensor({1, 1, 1, 1, 0, 0, 1, 0, 0}, torch::kBool).view({3, 3})));
  EXPECT_TRUE(torch::equal(a.lengths(), torch::tensor({3, 1, 1}, torch::kInt64)));
  auto [k, v] = a.write(0, torch::zeros({3, 1, 1, 2}), torch::zeros({3, 1, 1, 2}));
  EXPECT_EQ(k.size(2), 4);
  EXPECT_EQ(k[1][0][0][0].item<float>(), 2.0f);
  EXPECT_EQ(k[0][0][2][0].item<float>(), 1.0f);
  KvCache wrong(3, 1, 1, 4, 2);
  EXPECT_THROW(a.append(wrong), Error);
}

}  // namespace
}  // namespace e2llm
