// BM25 retrieval over chunks with SQLite FTS5.
#include "e2llm/eval/retrieval.h"
#include "test_util.h"

using namespace e2llm;

TEST(Bm25, RanksTheChunkThatMentionsTheQueryFirst) {
  std::vector<std::string> chunks = {
      "The committee discussed the budget for the new school.",
      "Remote controls need a speech recognition feature and a fancy look.",
      "The weather was fine and everyone went home early.",
      "Speech recognition was too expensive for the remote control budget.",
  };
  Bm25Index index(chunks);
  EXPECT_EQ(index.size(), 4u);
  auto top = index.search("What did they decide about speech recognition in the remote?", 2);
  ASSERT_EQ(top.size(), 2u);
  std::set<size_t> best{top[0].index, top[1].index};
  EXPECT_EQ(best, (std::set<size_t>{1, 3}));
  EXPECT_LE(top[0].score, top[1].score);
  EXPECT_TRUE(index.search("zebra", 3).empty());
  EXPECT_TRUE(index.search("\"*:() OR", 3).empty());  // no FTS5 syntax gets through
  EXPECT_EQ(index.search("weather NEAR home", 1).at(0).index, 2u);
}

TEST(Bm25, SelectWithinBudgetKeepsRankOrderForChoiceAndDocumentOrderForOutput) {
  std::vector<RankedChunk> ranked = {{3, -2.0}, {0, -1.5}, {2, -1.0}, {1, -0.5}};
  std::vector<size_t> cost = {4, 4, 10, 5};
  auto chosen = select_within_budget(ranked, 12, [&](size_t i) { return cost[i]; });
  EXPECT_EQ(chosen, (std::vector<size_t>{0, 3}));  // 5 + 4 fit; 10 and then 4 more would not
  EXPECT_EQ(select_within_budget(ranked, 100, [&](size_t i) { return cost[i]; }), (std::vector<size_t>{0, 1, 2, 3}));
}
