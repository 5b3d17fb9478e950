// Stop criteria: token budget, stop ids, stop strings across token boundaries,
// and how much text the streamer may show.
#include <gtest/gtest.h>

#include "e2llm/core/error.h"
#include "e2llm/generate/stop_criteria.h"
#include "test_util.h"

namespace e2llm {
namespace {

StopConfig stop_config(int64_t max_new_tokens, std::vector<int64_t> ids = {}, std::vector<std::string> strings = {}) {
  StopConfig c;
  c.max_new_tokens = max_new_tokens;
  c.stop_token_ids = std::move(ids);
  c.stop_strings = std::move(strings);
  return c;
}

TEST(StopCriteria, StopsAfterMaxNewTokens) {
  StopCriteria stop(stop_config(3));
  EXPECT_EQ(stop.on_token(5, "a"), StopReason::kNone);
  EXPECT_EQ(stop.on_token(6, "b"), StopReason::kNone);
  EXPECT_EQ(stop.on_token(7, "c"), StopReason::kMaxNewTokens);
  EXPECT_EQ(stop.text(), "abc");
  EXPECT_THROW(stop.on_token(8, "d"), Error);
}

TEST(StopCriteria, StopsWhereTheWindowEndsWhenThatComesFirst) {
  StopConfig c = stop_config(10);
  c.window_left = 2;
  StopCriteria stop(c);
  EXPECT_EQ(stop.most_tokens(), 2);
  EXPECT_EQ(StopCriteria(stop_config(10)).most_tokens(), 10);
  EXPECT_EQ(stop.on_token(5, "a"), StopReason::kNone);
  EXPECT_EQ(stop.on_token(6, "b"), StopReason::kWindowFull);
  EXPECT_STREQ(to_string(stop.reason()), "window_full");

  c.max_new_tokens = 2;  // both at once: the budget asked for is what stopped it
  StopCriteria tie(c);
  tie.on_token(5, "a");
  EXPECT_EQ(tie.on_token(6, "b"), StopReason::kMaxNewTokens);

  c.max_new_tokens = 10;
  c.window_left = 0;  // a prompt that fills the window: done before the first token
  EXPECT_EQ(StopCriteria(c).reason(), StopReason::kWindowFull);
  c.window_left = -2;
  EXPECT_THROW(StopCriteria{c}, Error);
}

TEST(StopCriteria, StopTokenTextIsNotKept) {
  StopCriteria stop(stop_config(10, {2, 7}));
  EXPECT_EQ(stop.on_token(5, "Hi"), StopReason::kNone);
  EXPECT_EQ(stop.on_token(7, "</s>"), StopReason::kStopToken);
  EXPECT_EQ(stop.text(), "Hi");
  EXPECT_EQ(stop.generated(), 2);
}

TEST(StopCriteria, StopStringAcrossTokensIsCutWithWhatFollows) {
  StopCriteria stop(stop_config(10, {}, {"\nUser:"}));
  EXPECT_EQ(stop.on_token(1, "Sure."), StopReason::kNone);
  EXPECT_EQ(stop.on_token(2, "\nUs"), StopReason::kNone);
  EXPECT_EQ(stop.stable_length(), 5u);  // "\nUs" may be the start of the stop string
  EXPECT_EQ(stop.on_token(3, "er: and more"), StopReason::kStopString);
  EXPECT_EQ(stop.text(), "Sure.");
  EXPECT_EQ(stop.stable_length(), 5u);
}

TEST(StopCriteria, EarliestOfSeveralStopStringsWins) {
  StopCriteria stop(stop_config(10, {}, {"world", "lo w"}));
  EXPECT_EQ(stop.on_token(1, "hello world"), StopReason::kStopString);
  EXPECT_EQ(stop.text(), "hel");
}

TEST(StopCriteria, HeldBackTextIsReleasedWhenItStopsMatching) {
  StopCriteria stop(stop_config(10, {}, {"###"}));
  stop.on_token(1, "a##");
  EXPECT_EQ(stop.stable_length(), 1u);
  stop.on_token(2, "b");
  EXPECT_EQ(stop.stable_length(), 4u);
  EXPECT_EQ(stop.on_token(3, "#"), StopReason::kNone);
  EXPECT_EQ(stop.on_token(4, "##"), StopReason::kStopString);
  EXPECT_EQ(stop.text(), "a##b");
}

TEST(StopCriteria, TextReleasedAtTheEndStillHonoursStopStrings) {
  StopCriteria stop(stop_config(2, {}, {"END"}));
  stop.on_token(1, "one E");
  EXPECT_EQ(stop.on_token(2, ""), StopReason::kMaxNewTokens);
  stop.on_finish("ND two");
  EXPECT_EQ(stop.text(), "one ");
  EXPECT_EQ(stop.reason(), StopReason::kStopString);
}

TEST(StopCriteria, RejectsEmptyStopString) {
  EXPECT_THROW(StopCriteria(stop_config(1, {}, {""})), Error);
}

}  // namespace
}  // namespace e2llm
