// The model-free parts of the baselines (head+tail truncation, RAG chunk
// selection) and the evaluation loop with a stand-in method.
#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "e2llm/eval/baselines.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/eval/evaluator.h"
#include "e2llm/io/fs.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::vector<int64_t> iota_ids(size_t n) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

// `n` words of filler text in paragraphs of 12 words.
std::string filler(size_t n, const std::string& word = "lorem") {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += word + std::to_string(i % 7);
    out += (i % 12 == 11) ? "\n\n" : " ";
  }
  return out;
}

}  // namespace

TEST(HeadTail, KeepsExactlyTheBudgetFromBothEndsInOrder) {
  const std::vector<int64_t> ids = iota_ids(100);
  for (size_t budget : {0u, 1u, 2u, 7u, 10u, 99u}) {
    std::vector<int64_t> kept = truncate_head_tail(ids, budget);
    ASSERT_EQ(kept.size(), budget);
    HeadTail s = head_tail_split(ids.size(), budget);
    EXPECT_TRUE(s.truncated);
    EXPECT_EQ(s.head + s.tail, budget);
    EXPECT_GE(s.head, s.tail);
    EXPECT_LE(s.head - s.tail, 1u);
    for (size_t i = 0; i < s.head; ++i) EXPECT_EQ(kept[i], static_cast<int64_t>(i));  // the head, from id 0
    for (size_t i = 0; i < s.tail; ++i)  // the tail, ending at the last id
      EXPECT_EQ(kept[s.head + i], static_cast<int64_t>(100 - s.tail + i));
  }
  EXPECT_EQ(truncate_head_tail(ids, 7), (std::vector<int64_t>{0, 1, 2, 3, 97, 98, 99}));
  // Fits: nothing is cut.
  EXPECT_EQ(truncate_head_tail(ids, 100), ids);
  EXPECT_EQ(truncate_head_tail(ids, 500), ids);
  EXPECT_FALSE(head_tail_split(100, 100).truncated);
  EXPECT_TRUE(truncate_head_tail({}, 3).empty());
}

TEST(RagSelect, PicksTheChunkWithTheQuerysRareWordsWithinTheBudget) {
  const std::string needle = "The quokka named Bartholomew hid the silver teapot under the lighthouse stairs.";
  const std::string context = filler(200) + "\n\n" + needle + "\n\n" + filler(200, "ipsum");
  const auto spans = simple_token_spans(context);
  RagOptions o;
  o.chunker.chunk_size = 20;
  o.separator_tokens = 1;
  const std::string query = "Where did Bartholomew the quokka hide the teapot?";

  RagSelection one = rag_select(context, spans, query, 21, o);  // room for one chunk
  ASSERT_GT(one.chunks.size(), 20u);
  ASSERT_EQ(one.selected.size(), 1u);
  const std::string chosen(one.chunks[one.selected[0]].text(context));
  EXPECT_NE(chosen.find("quokka"), std::string::npos) << chosen;
  EXPECT_EQ(one.ranked.at(0).index, one.selected[0]);
  EXPECT_LE(one.selected_tokens + o.separator_tokens, 21u);

  // A bigger budget: the best chunk is still there, the rest fill up in
  // document order, and the budget holds.
  for (size_t budget : {50u, 100u, 173u}) {
    RagSelection sel = rag_select(context, spans, query, budget, o);
    EXPECT_TRUE(std::is_sorted(sel.selected.begin(), sel.selected.end()));
    size_t cost = 0;
    for (size_t i : sel.selected) cost += static_cast<size_t>(sel.chunks[i].num_tokens) + o.separator_tokens;
    EXPECT_LE(cost, budget);
    EXPECT_GT(cost + 21, budget);  // filled: no further 20-token chunk would have fitted
    EXPECT_NE(join_selected(context, sel, "\n\n").find("quokka"), std::string::npos);
  }

  // Without filling, a query that matches nothing selects nothing.
  o.fill_with_unmatched = false;
  EXPECT_TRUE(rag_select(context, spans, "zebra giraffe", 1000, o).selected.empty());
  // Everything fits: the whole context comes back in order.
  o.fill_with_unmatched = true;
  RagSelection all = rag_select(context, spans, "zebra", 1u << 20, o);
  EXPECT_EQ(all.selected.size(), all.chunks.size());
  EXPECT_TRUE(std::is_sorted(all.selected.begin(), all.selected.end()));
}

TEST(BaselineKinds, ParseAndName) {
  for (BaselineKind k : {BaselineKind::full, BaselineKind::truncate, BaselineKind::rag})
    EXPECT_EQ(parse_baseline_kind(to_string(k)), k);
  EXPECT_THROW(parse_baseline_kind("bm25"), Error);
}

namespace {

// Answers with the example's first word and counts its calls.
class EchoMethod : public Method {
 public:
  explicit EchoMethod(int* calls) : calls_(calls) {}
  MethodAnswer answer(const Example& ex) override {
    ++*calls_;
    return {ex.context.substr(0, ex.context.find(' ')), {{"words", 1}}};
  }

 private:
  int* calls_;
};

std::vector<Example> echo_examples(size_t n) {
  std::vector<Example> out;
  for (size_t i = 0; i < n; ++i) {
    const std::string w = "word" + std::to_string(i);
    // Odd examples have the answer the echo gives, even ones do not.
    out.push_back({"ex" + std::to_string(i), w + " and more text", "q", {i % 2 ? w : "other"}, {}});
  }
  return out;
}

}  // namespace

TEST(RunEval, AnswersOnlyWhatIsMissingAndScoresTheSelection) {
  TempDir dir;
  const auto examples = echo_examples(5);
  int calls = 0, loads = 0;
  auto make = [&]() -> std::unique_ptr<Method> {
    ++loads;
    return std::make_unique<EchoMethod>(&calls);
  };
  EvalOptions o;
  o.output_dir = dir.file("out");
  o.metric = MetricKind::qa;
  o.method_name = "echo";
  o.dataset_name = "toy";
  o.settings = {{"method", "echo"}};
  o.progress = false;
  o.limit = 2;

  EvalReport r = run_eval(examples, make, o);
  EXPECT_EQ(r.examples, 2u);
  EXPECT_EQ(r.computed, 2u);
  EXPECT_EQ(r.resumed, 0u);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(read_predictions(o.output_dir + "/predictions.jsonl").size(), 2u);

  o.limit = 0;  // all five: three new ones
  r = run_eval(examples, make, o);
  EXPECT_EQ(r.computed, 3u);
  EXPECT_EQ(r.resumed, 2u);
  EXPECT_EQ(calls, 5);
  auto preds = read_predictions(o.output_dir + "/predictions.jsonl");
  ASSERT_EQ(preds.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(preds[i].id, examples[i].id);

  // Done: rescoring does not even build the method.
  r = run_eval(examples, make, o);
  EXPECT_EQ(r.computed, 0u);
  EXPECT_EQ(loads, 2);
  // ex1 and ex3 are right: exact match 2/5.
  auto metrics = read_json_file(o.output_dir + "/metrics.json");
  EXPECT_EQ(metrics.at("metric"), "qa");
  EXPECT_EQ(metrics.at("rows").at(0).at("scores").at("n"), 5);
  EXPECT_NEAR(metrics.at("rows").at(0).at("scores").at("exact_match").get<double>(), 40.0, 1e-9);
  const std::string md = read_text_file(o.output_dir + "/metrics.md");
  EXPECT_NE(md.find("| echo | toy |"), std::string::npos) << md;

  // Other settings into the same folder: refused, naming what changed.
  o.settings = {{"method", "other"}};
  try {
    run_eval(examples, make, o);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("method"), std::string::npos) << e.what();
  }
}

TEST(RunEval, AFailingExampleKeepsTheEarlierPredictions) {
  class FailsOnThird : public Method {
   public:
    MethodAnswer answer(const Example& ex) override {
      if (ex.id == "ex2") throw std::runtime_error("out of cheese");
      return {"x", {}};
    }
  };
  TempDir dir;
  EvalOptions o;
  o.output_dir = dir.path();
  o.metric = MetricKind::qa;
  o.progress = false;
  try {
    run_eval(echo_examples(4), [] { return std::make_unique<FailsOnThird>(); }, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("example 'ex2': out of cheese"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_predictions(dir.file("predictions.jsonl")).size(), 2u);
}

TEST(RunEval, MetricFromData) {
  std::vector<Example> ex(1);
  EXPECT_FALSE(metric_from_data(ex).has_value());
  ex[0].meta = {{"task", "passkey"}};
  EXPECT_EQ(metric_from_data(ex), MetricKind::passkey);
  ex[0].meta = {{"metric", "rouge"}};
  EXPECT_EQ(metric_from_data(ex), MetricKind::rouge);
}
