#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/data/datasets.h"
#include "e2llm/data/synthetic.h"
#include "e2llm/train/e2llm_task.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

TEST(TrainData, JsonlRoundTripsAndNamesTheBadLine) {
  TempDir dir;
  std::vector<Example> examples = {{"", "a long \"text\"\nwith lines", "q?", {"a"}}, {"", "ctx", "p", {"ans"}}};
  write_examples(dir.file("d.jsonl"), examples);
  auto back = read_examples(dir.file("d.jsonl"), ExampleUse::training);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].context, examples[0].context);
  EXPECT_EQ(back[1].answers[0], "ans");
  write_file_atomic(dir.file("bad.jsonl"), "{\"context\":\"c\",\"prompt\":\"p\",\"answer\":\"a\"}\n\n{\"context\":1}\n");
  try {
    read_examples(dir.file("bad.jsonl"), ExampleUse::training);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:3"), std::string::npos) << e.what();
  }
}

TEST(TrainData, ReadsTheConvertedDatasetSchemaTooTakingTheFirstAnswer) {
  TempDir dir;
  write_file_atomic(dir.file("c.jsonl"),
                    "{\"id\":\"x\",\"context\":\"c\",\"prompt\":\"p\",\"answers\":[\"first\",\"second\"],\"meta\":{}}\n");
  auto back = read_examples(dir.file("c.jsonl"), ExampleUse::training);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].answers[0], "first");
  write_file_atomic(dir.file("empty.jsonl"), "{\"context\":\"c\",\"prompt\":\"p\",\"answers\":[]}\n");
  try {
    read_examples(dir.file("empty.jsonl"), ExampleUse::training);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.jsonl:1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("answers"), std::string::npos) << e.what();
  }
}

TEST(TrainData, AnswersMatchIgnoresCaseAndSpacing) {
  EXPECT_TRUE(answers_match("  V3 ", "v3"));
  EXPECT_TRUE(answers_match("new  york", "New York"));
  EXPECT_FALSE(answers_match("v3", "v33"));
}

TEST(KeyValueTask, FactsAreScatteredAndTheAnswerIsOnlyInTheAskedFact) {
  // 16 keys, 16 values, 4 facts at least 7 sentences of 8 words (64 words) apart.
  KvOptions o{.facts = 4, .words = 1400, .seed = 7, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7};
  auto examples = kv_dataset(o, 50);
  auto again = kv_dataset(o, 50);
  std::set<std::string> vocab;
  for (const auto& w : kv_vocabulary(o)) vocab.insert(w);
  std::set<std::string> answers;
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    EXPECT_EQ(e.context, again[i].context);
    std::istringstream words(e.context + " " + e.prompt + " " + e.answers[0]);
    int64_t count = 0;
    for (std::string w; words >> w; ++count) ASSERT_TRUE(vocab.count(w)) << "word outside the vocabulary: " << w;
      EXPECT_GE(count, static_cast<int64_t>(o.words));
    std::smatch m;
    ASSERT_TRUE(std::regex_match(e.prompt, m, std::regex("what is held by (k\\d+)")));
    std::string key = m[1];
    std::regex fact_re("(k\\d+) holds (v\\d+) \\.");
    std::vector<size_t> positions;
    std::set<std::string> keys;
    int asked_hits = 0;
    for (auto it = std::sregex_iterator(e.context.begin(), e.context.end(), fact_re); it != std::sregex_iterator();
         ++it) {
      positions.push_back(it->position());
      keys.insert((*it)[1]);
      if ((*it)[1] == key) {
        ++asked_hits;
        EXPECT_EQ((*it)[2], e.answers[0]);
      }
    }
    EXPECT_EQ(positions.size(), 4u);
    EXPECT_EQ(keys.size(), 4u) << "keys must be distinct within a document";
    EXPECT_EQ(asked_hits, 1);
    for (size_t f = 1; f < positions.size(); ++f) EXPECT_GE(positions[f] - positions[f - 1], 64u * 2);
    answers.insert(e.answers[0]);
  }
  EXPECT_GT(answers.size(), 8u);  // values vary across documents
  EXPECT_THROW(make_kv({.facts = 5, .vocabulary = KvVocabulary::closed, .keys = 4, .values = 4}, 0), Error);
}
