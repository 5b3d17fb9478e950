#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "e2llm/chunking/chunker.h"
#include "e2llm/core/error.h"
#include "qmsum_text.h"
#include "test_util.h"

using namespace e2llm;

namespace {

// Subword-like spans: every simple token cut into pieces of at most 3 bytes
// (ASCII text only), as WordPiece would cut a rare word.
std::vector<TokenSpan> subword_spans(std::string_view text) {
  std::vector<TokenSpan> out;
  for (const TokenSpan& s : simple_token_spans(text))
    for (size_t b = s.begin; b < s.end; b += 3) out.push_back({b, std::min(s.end, b + 3)});
  return out;
}

bool word_byte(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// A pseudo-random English-like text: words, sentences, paragraphs.
std::string random_text(uint32_t seed, int paragraphs) {
  std::mt19937 rng(seed);
  const char* words[] = {"the", "meeting", "discussed", "a", "remote", "control", "design", "budget",
                         "we", "should", "consider", "interface", "user", "battery", "price", "3.14"};
  std::string text;
  for (int p = 0; p < paragraphs; ++p) {
    int sentences = 1 + rng() % 6;
    for (int s = 0; s < sentences; ++s) {
      int n = 3 + rng() % 12;
      for (int w = 0; w < n; ++w) {
        text += words[rng() % 16];
        text += (w + 1 < n) ? (rng() % 9 == 0 ? ", " : " ") : ". ";
      }
    }
    text += "\n\n";
  }
  return text;
}

// Sentences of exactly 8 simple tokens each, every token a whole word.
std::string numbered_sentences(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += fmt::format("Sentence number {} talks about item {}. ", i, i * 7);
  return text;
}

// The properties every chunking must have.
void expect_valid_chunks(std::string_view text, const std::vector<TokenSpan>& spans,
                         const std::vector<Chunk>& chunks, const ChunkerOptions& o) {
  const int64_t n = static_cast<int64_t>(spans.size());
  if (n == 0) {
    EXPECT_TRUE(chunks.empty());
    return;
  }
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().first_token, 0);
  EXPECT_EQ(chunks.back().first_token + chunks.back().num_tokens, n);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    ASSERT_GE(c.num_tokens, 1);
    ASSERT_LE(c.num_tokens, o.chunk_size) << "chunk " << i;
    EXPECT_EQ(c.begin, spans[c.first_token].begin);
    EXPECT_EQ(c.end, spans[c.first_token + c.num_tokens - 1].end);
    if (i == 0) continue;
    const Chunk& p = chunks[i - 1];
    int64_t prev_end = p.first_token + p.num_tokens;
    ASSERT_GT(c.first_token, p.first_token) << "chunks must advance";
    ASSERT_LE(c.first_token, prev_end) << "no token may be skipped";
    EXPECT_LE(prev_end - c.first_token, o.overlap) << "overlap larger than configured";
    if (o.overlap == 0) {
      EXPECT_EQ(c.first_token, prev_end);
    }
  }
}

std::vector<Chunk> check_chunking(std::string_view text, const std::vector<TokenSpan>& spans,
                                  const ChunkerOptions& o) {
  auto chunks = chunk_text(text, spans, o);
  expect_valid_chunks(text, spans, chunks, o);
  return chunks;
}

}  // namespace

TEST(Chunker, EmptyAndBlankTextGiveNoChunks) {
  EXPECT_TRUE(chunk_text("", simple_token_spans).empty());
  EXPECT_TRUE(chunk_text("  \n\n \t ", simple_token_spans).empty());
}

TEST(Chunker, ShortTextIsOneChunkWithItsByteRange) {
  std::string text = "  Hello, world.  ";
  auto chunks = chunk_text(text, simple_token_spans);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text(text), "Hello, world.");
  EXPECT_EQ(chunks[0].num_tokens, 4);
}

TEST(Chunker, PropertiesHoldOverManyTextsBudgetsAndOverlaps) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::string text = random_text(seed, 25);
    for (auto spans : {simple_token_spans(text), subword_spans(text)}) {
      for (int64_t budget : {1, 2, 7, 16, 64, 300}) {
        for (int64_t overlap : {int64_t{0}, budget / 4, budget - 1}) {
          ChunkerOptions o{budget, overlap, seed % 2 == 0};
          SCOPED_TRACE(fmt::format("seed {} budget {} overlap {}", seed, budget, overlap));
          check_chunking(text, spans, o);
        }
      }
    }
  }
}

TEST(Chunker, OverlapEqualsConfiguredWhenEveryTokenIsAWord) {
  std::string text = numbered_sentences(100);
  auto spans = simple_token_spans(text);
  ChunkerOptions o{40, 6, true};
  auto chunks = check_chunking(text, spans, o);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 1; i < chunks.size(); ++i)
    EXPECT_EQ(chunks[i - 1].first_token + chunks[i - 1].num_tokens - chunks[i].first_token, 6);
}

TEST(Chunker, CutsAtSentenceEndsWhenSentencesFit) {
  std::string text = numbered_sentences(200);
  auto spans = simple_token_spans(text);  // 8 tokens per sentence
  ChunkerOptions o{30, 0, true};
  auto chunks = check_chunking(text, spans, o);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].text(text).back(), '.') << "chunk " << i << " = " << chunks[i].text(text);
    EXPECT_EQ(chunks[i].num_tokens, 24);  // three whole sentences, the most that fit
  }
}

TEST(Chunker, PrefersParagraphsOverSentences) {
  // Paragraphs of 3 sentences x 5 tokens; a budget of 20 fits one paragraph
  // (15 tokens) plus one sentence, but the cut must fall at the paragraph end.
  std::string text;
  for (int p = 0; p < 20; ++p) text += "One two three four. Five six seven eight. Nine ten eleven twelve.\n\n";
  auto spans = simple_token_spans(text);
  auto chunks = check_chunking(text, spans, {20, 0, true});
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].num_tokens, 15);
    EXPECT_TRUE(text.substr(chunks[i].end, 2) == "\n\n");
  }
  // Without the preference chunks are filled up to the last word gap.
  auto filled = chunk_text(text, spans, {20, 0, false});
  EXPECT_EQ(filled[0].num_tokens, 20);
}

TEST(Chunker, NeverCutsInsideAWord) {
  std::string text = random_text(9, 40);
  auto spans = subword_spans(text);
  for (int64_t budget : {5, 9, 33}) {
    auto chunks = check_chunking(text, spans, {budget, 0, true});
    for (const Chunk& c : chunks) {
      if (c.end >= text.size()) continue;
      bool inside = word_byte(text[c.end - 1]) && word_byte(text[c.end]);
      EXPECT_FALSE(inside) << "cut inside a word at byte " << c.end << ": '"
                           << text.substr(c.end - 5, 10) << "'";
    }
  }
}

TEST(Chunker, DoesNotSplitDecimalNumbersOrContractions) {
  // simple spans: "3", ".", "14" are three tokens; a budget of 3 could cut
  // after "3." but must not when a word gap is available.
  std::string text = "pi 3.14 is don't";
  auto spans = simple_token_spans(text);
  auto chunks = check_chunking(text, spans, {3, 0, false});
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].text(text), "pi");
  EXPECT_EQ(chunks[1].text(text), "3.14");
  EXPECT_EQ(chunks[2].text(text), "is");
  EXPECT_EQ(chunks[3].text(text), "don't");
}

TEST(Chunker, WordLongerThanBudgetIsCutAtTokenBoundaries) {
  std::string word(40, 'x');
  std::string text = "short " + word + " tail";
  auto spans = subword_spans(text);  // the long word is 14 tokens of <= 3 bytes
  auto chunks = check_chunking(text, spans, {4, 0, true});
  // "short" (2 tokens) alone, then the long word in pieces of exactly 4 tokens.
  EXPECT_EQ(chunks[0].text(text), "short");
  EXPECT_EQ(chunks[1].num_tokens, 4);
  EXPECT_EQ(chunks[1].text(text), word.substr(0, 12));
  ASSERT_EQ(chunks.size(), 5u);
  for (size_t i = 1; i <= 3; ++i) EXPECT_EQ(chunks[i].text(text), word.substr(12 * (i - 1), 12));
  // The word's last 4 bytes and "tail" fit one budget together.
  EXPECT_EQ(chunks[4].text(text), "xxxx tail");
}

TEST(Chunker, CjkCutsAtIdeographicFullStops) {
  std::string sentence = "我们今天讨论了遥控器的设计方案。";  // 15 characters + 。
  std::string text;
  for (int i = 0; i < 30; ++i) text += sentence;
  auto spans = simple_token_spans(text);
  ASSERT_EQ(spans.size(), 30u * 16u);
  auto chunks = check_chunking(text, spans, {50, 0, true});
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].num_tokens, 48);
    EXPECT_EQ(chunks[i].text(text).substr(chunks[i].text(text).size() - 3), "。");
  }
}

TEST(Chunker, CjkWithoutPunctuationFallsBackToCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "遥控器";
  auto spans = simple_token_spans(text);
  auto chunks = check_chunking(text, spans, {32, 0, true});
  for (const Chunk& c : chunks) EXPECT_EQ(c.begin % 3, 0u);  // whole 3-byte characters
  EXPECT_EQ(chunks[0].num_tokens, 32);
}

TEST(Chunker, OverlappingByteSpansAreNotCutWhenAvoidable) {
  // A byte-level tokenizer gives both halves of a character the same span.
  std::string text = "ab 遥控 cd";
  std::vector<TokenSpan> spans = {{0, 2}, {3, 6}, {3, 6}, {6, 9}, {6, 9}, {10, 12}};
  auto chunks = check_chunking(text, spans, {3, 0, true});
  for (const Chunk& c : chunks) {
    int64_t next = c.first_token + c.num_tokens;
    if (next < 6) {
      EXPECT_GE(spans[next].begin, spans[next - 1].end) << "cut inside a character";
    }
  }
}

TEST(Chunker, RejectsBadOptionsAndSpans) {
  std::string text = "a b c";
  auto spans = simple_token_spans(text);
  EXPECT_THROW(chunk_text(text, spans, {0, 0, true}), Error);
  EXPECT_THROW(chunk_text(text, spans, {4, 4, true}), Error);
  EXPECT_THROW(chunk_text(text, spans, {4, -1, true}), Error);
  std::vector<TokenSpan> out_of_text = {{0, 1}, {2, 9}};
  EXPECT_THROW(chunk_text(text, out_of_text, {}), Error);
  std::vector<TokenSpan> unordered = {{2, 3}, {0, 1}};
  try {
    chunk_text(text, unordered, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 1"), std::string::npos) << e.what();
  }
}

TEST(Chunker, IsDeterministicAndSurvivesInvalidUtf8) {
  std::string text = random_text(5, 10);
  text[10] = '\xff';
  text[200] = '\xc3';
  auto a = chunk_text(text, simple_token_spans, {17, 3, true});
  auto b = chunk_text(text, simple_token_spans, {17, 3, true});
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first_token, b[i].first_token);
    EXPECT_EQ(a[i].num_tokens, b[i].num_tokens);
  }
  expect_valid_chunks(text, simple_token_spans(text), a, {17, 3, true});
}

TEST(Chunker, HandlesTenMillionCharacters) {
  std::string text;
  text.reserve(10'000'100);
  for (uint32_t seed = 0; text.size() < 10'000'000; ++seed) text += random_text(seed % 50, 20);
  auto spans = simple_token_spans(text);
  ChunkerOptions o{510, 32, true};
  auto chunks = chunk_text(text, spans, o);
  expect_valid_chunks(text, spans, chunks, o);
  EXPECT_GT(chunks.size(), spans.size() / 510);
}

TEST(Chunker, QmsumTranscriptChunksEndAtSentencesOrTurns) {
  E2LLM_REQUIRE_SHARED_DATA(path, e2llm::test::qmsum_path("test"));
  const std::string text = e2llm::test::qmsum_transcripts("test", 1).at(0);
  auto spans = simple_token_spans(text);
  ChunkerOptions o{510, 0, true};
  auto chunks = check_chunking(text, spans, o);
  ASSERT_GT(chunks.size(), 5u);
  int clean = 0;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    char last = chunks[i].text(text).back();
    char after = text[chunks[i].end];
    clean += (last == '.' || last == '?' || last == '!' || after == '\n');
  }
  EXPECT_EQ(clean, static_cast<int>(chunks.size()) - 1);
}
