// Tokenizer behaviour beyond the goldens: bad input, truncation, streaming
// decode, lookups, and the tokenize / detokenize CLI.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "test_util.h"
#include "tokenizer/models.h"
#include "tokenizer/unicode.h"

namespace e2llm {
namespace {

std::string fixture(const std::string& file) { return test::golden_dir() + "/tokenizer/" + file; }

TEST(Tokenizer, InvalidUtf8NamesTheByteOffset) {
  auto tok = Tokenizer::from_file(fixture("bytelevel_bpe.tokenizer.json"));
  try {
    tok->encode(std::string("ok \xC3\x28 bad"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte offset 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok->encode(std::string("\xED\xA0\x80")), Error);  // a UTF-16 surrogate
  EXPECT_THROW(tok->encode(std::string("abc\xF0\x9F")), Error);    // cut at the end
}

TEST(Vocab, FindsEveryTokenThroughGrowthGapsAndRepeats) {
  text::Vocab v;
  EXPECT_EQ(v.find("a"), std::nullopt);  // empty
  for (int64_t id = 0; id < 5000; id += 2) v.add("tok" + std::to_string(id), id);  // grows the table many times
  v.add("a long token well beyond the short-string buffer", 5001);
  v.add("again", 7);  // id 7 was a gap
  v.add("again", 9);  // a token seen twice takes its latest id, as a map's insert_or_assign would
  EXPECT_EQ(v.size(), 2502u);
  EXPECT_EQ(v.id_bound(), 5002u);
  for (int64_t id = 0; id < 5000; id += 2) ASSERT_EQ(v.find("tok" + std::to_string(id)), id) << id;
  const std::string text = "xx a long token well beyond the short-string buffer yy";
  EXPECT_EQ(v.find(std::string_view(text).substr(3, text.size() - 6)), 5001);
  EXPECT_EQ(v.find("again"), 9);
  EXPECT_EQ(v.find("tok1"), std::nullopt);
  EXPECT_EQ(v.find("tok"), std::nullopt);
  EXPECT_EQ(v.token(1), nullptr);
  EXPECT_EQ(v.token(5002), nullptr);
  ASSERT_NE(v.token(4998), nullptr);
  EXPECT_EQ(*v.token(4998), "tok4998");
  EXPECT_EQ(*v.token(7), "again");
  EXPECT_THROW(v.add("x", -1), Error);
}

TEST(Vocab, TwoStringsAtOneIdAreBothFoundAsInHuggingFacesMap) {
  text::Vocab v;
  v.add("a", 5);
  v.add("b", 5);  // the later string is the id's token; the earlier one is still found
  for (int64_t id = 100; id < 300; ++id) v.add("tok" + std::to_string(id), id);  // rehashes past the stale slot
  EXPECT_EQ(v.find("a"), 5);
  EXPECT_EQ(v.find("b"), 5);
  ASSERT_NE(v.token(5), nullptr);
  EXPECT_EQ(*v.token(5), "b");
  v.add("a", 6);  // a string given a new id takes it, and is counted once
  EXPECT_EQ(v.find("a"), 6);
  EXPECT_EQ(v.find("b"), 5);
  EXPECT_EQ(v.size(), 202u);
}

TEST(Vocab, StringsTradingOneIdBackAndForthKeepTheTableBounded) {
  // Each trade leaves the earlier string's slot behind; the table must count
  // those slots when it decides to grow, or it fills up and a probe never ends.
  text::Vocab v;
  for (int round = 0; round < 200; ++round) {
    v.add("a", 5);
    v.add("b", 5);
  }
  EXPECT_EQ(v.find("a"), 5);
  EXPECT_EQ(v.find("b"), 5);
  EXPECT_EQ(v.find("c"), std::nullopt);
  EXPECT_EQ(*v.token(5), "b");
  EXPECT_EQ(v.size(), 2u);
}

TEST(Bpe, APairListedTwiceTakesItsLastRankAsHuggingFaceDoes) {
  // tokenizers 0.20.3: BPE(vocab, merges=[("a","b"), ("b","c"), ("a","b")]) encodes "abc"
  // as ["a", "bc"]: its merge map keeps the later rank 2, so "b c" (rank 1) goes first.
  const std::vector<std::string> tokens = {"a", "b", "c", "ab", "bc"};
  auto ids_of = [&](const std::vector<std::pair<std::string, std::string>>& merges) {
    std::vector<text::Token> out;
    text::make_bpe_model(tokens, merges, text::BpeOptions{}, "test")->tokenize("abc", out);
    std::vector<int64_t> ids;
    for (const text::Token& t : out) ids.push_back(t.id);
    return ids;
  };
  EXPECT_EQ(ids_of({{"a", "b"}, {"b", "c"}}), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ids_of({{"a", "b"}, {"b", "c"}, {"a", "b"}}), (std::vector<int64_t>{0, 4}));
  // The same by ids (a SentencePiece GGUF's merges).
  std::vector<text::Token> out;
  text::make_bpe_model(tokens, std::vector<text::BpeMerge>{{0, 1, 3}, {1, 2, 4}, {0, 1, 3}}, text::BpeOptions{}, "test")
      ->tokenize("abc", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].id, 4);
}

TEST(Tokenizer, ByteOffsetsAndCodePointOffsetsAgree) {
  auto tok = Tokenizer::from_file(fixture("wordpiece_cased.tokenizer.json"));
  const std::string text = "naïve café 中文 ok";
  Encoding e = tok->encode(text, false);
  ASSERT_EQ(e.offsets.size(), e.byte_offsets.size());
  for (size_t i = 0; i < e.size(); ++i) {
    auto [b, end] = e.byte_offsets[i];
    auto [cb, cend] = e.offsets[i];
    // The code-point offsets count the characters before each byte offset.
    size_t cps_before_b = 0, cps_before_end = 0;
    for (size_t k = 0; k < end; ++k) {
      bool lead = (static_cast<unsigned char>(text[k]) & 0xC0) != 0x80;
      if (k < b) cps_before_b += lead;
      cps_before_end += lead;
    }
    EXPECT_EQ(cb, cps_before_b) << e.tokens[i];
    EXPECT_EQ(cend, cps_before_end) << e.tokens[i];
  }
}

TEST(Tokenizer, TruncationKeepsRoomForSpecialTokens) {
  auto tok = Tokenizer::from_file(fixture("wordpiece_cased.tokenizer.json"));
  const std::string text = "one two three four five six seven eight nine ten";
  Encoding full = tok->encode(text);
  ASSERT_GT(full.size(), 6u);
  tok->set_truncation(Truncation{6, Truncation::Direction::kRight});
  Encoding cut = tok->encode(text);
  ASSERT_EQ(cut.size(), 6u);
  EXPECT_EQ(cut.tokens.front(), "[CLS]");
  EXPECT_EQ(cut.tokens.back(), "[SEP]");
  EXPECT_EQ(std::vector<int64_t>(cut.ids.begin() + 1, cut.ids.end() - 1),
            std::vector<int64_t>(full.ids.begin() + 1, full.ids.begin() + 5));
  tok->set_truncation(Truncation{6, Truncation::Direction::kLeft});
  Encoding left = tok->encode(text);
  EXPECT_EQ(std::vector<int64_t>(left.ids.begin() + 1, left.ids.end() - 1),
            std::vector<int64_t>(full.ids.end() - 5, full.ids.end() - 1));
}

TEST(Tokenizer, LookupsAndSpecialIds) {
  auto tok = Tokenizer::from_file(fixture("bpe_byte_fallback.tokenizer.json"));
  EXPECT_EQ(tok->token_to_id("<s>"), 1);
  EXPECT_EQ(tok->id_to_token(1), "<s>");
  EXPECT_EQ(tok->token_to_id("no such token"), std::nullopt);
  EXPECT_THROW(tok->id_to_token(1 << 30), Error);
  EXPECT_THROW(tok->decode(std::vector<int64_t>{-1}), Error);
  EXPECT_EQ(tok->special_ids().bos, 1);
  EXPECT_EQ(tok->special_ids().eos, 2);
  EXPECT_EQ(tok->special_ids().unk, 0);
  EXPECT_TRUE(tok->is_special(1));
  EXPECT_FALSE(tok->is_special(*tok->token_to_id("<0x41>")));
}

// Streams every golden text id by id: the pieces must concatenate to the full
// decode and each piece must be valid UTF-8 (byte fallback splits emoji and
// CJK into several ids).
void expect_stream_matches_decode(const Tokenizer& tok, const std::string& golden) {
  std::ifstream in(fixture(golden));
  size_t checked = 0;
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line);
    auto ids = row.at("ids").get<std::vector<int64_t>>();
    StreamDecoder stream(tok);
    std::string streamed;
    for (int64_t id : ids) {
      std::string piece = stream.push(id);
      ASSERT_EQ(text::find_invalid_utf8(piece), std::string::npos) << "broken UTF-8 emitted";
      streamed += piece;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, tok.decode(ids)) << row.at("text");
    ++checked;
  }
  EXPECT_GT(checked, 10u);
}

TEST(StreamDecoder, ByteFallbackPiecesJoinToTheFullDecode) {
  expect_stream_matches_decode(*Tokenizer::from_file(fixture("bpe_byte_fallback.tokenizer.json")),
                               "bpe_byte_fallback.golden.jsonl");
}

TEST(StreamDecoder, ByteLevelPiecesJoinToTheFullDecode) {
  expect_stream_matches_decode(*Tokenizer::from_file(fixture("bytelevel_bpe.tokenizer.json")),
                               "bytelevel_bpe.golden.jsonl");
}

TEST(StreamDecoder, WordPieceAndMetaspacePiecesJoinToTheFullDecode) {
  expect_stream_matches_decode(*Tokenizer::from_file(fixture("wordpiece_cased.tokenizer.json")),
                               "wordpiece_cased.golden.jsonl");
  expect_stream_matches_decode(*Tokenizer::from_file(fixture("unigram.tokenizer.json")), "unigram.golden.jsonl");
}

TEST(StreamDecoder, HoldsBackACutCharacter) {
  auto tok = Tokenizer::from_file(fixture("bpe_byte_fallback.tokenizer.json"));
  // "é" is not a vocabulary piece: it comes out as <0xC3> <0xA9>.
  Encoding e = tok->encode("é", false);
  ASSERT_GE(e.size(), 3u);  // "▁", <0xC3>, <0xA9>
  StreamDecoder stream(*tok);
  std::string out;
  for (size_t i = 0; i + 1 < e.size(); ++i) out += stream.push(e.ids[i]);
  EXPECT_EQ(out.find("\xC3"), std::string::npos) << "half a character was emitted";
  out += stream.push(e.ids.back());
  EXPECT_EQ(out, "é");
}

TEST(Tokenizer, BadFilesGiveClearErrors) {
  test::TempDir dir;
  std::ofstream(dir.file("bad.json")) << R"({"model": {"type": "Nope"}})";
  try {
    Tokenizer::from_file(dir.file("bad.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported model type 'Nope'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Tokenizer::from_file(dir.file("missing.json")), Error);
  EXPECT_THROW(Tokenizer::from_file(dir.path()), Error);
  std::ofstream(dir.file("bad.model")) << "not a sentencepiece model";
  EXPECT_THROW(Tokenizer::from_file(dir.file("bad.model")), Error);
}

// split_digits: the encoder reads a number as its digits, after the file's
// own steps (the rest of the text tokenizes as before), and only where the
// option can be honoured.
TEST(Tokenizer, SplitDigitsSpellsNumbersDigitByDigit) {
  E2LLM_REQUIRE_REAL_MODEL(dir, "all-MiniLM-L6-v2");
  const std::string text = "The pass key is 27293. Remember it, 1999 was long ago.";
  auto plain = Tokenizer::from_file(dir);
  auto split = Tokenizer::from_file(dir, TokenizerOptions{.split_digits = true});
  const Encoding a = plain->encode(text), b = split->encode(text);
  auto tokens_of = [](const Encoding& e) {
    std::string s;
    for (const auto& t : e.tokens) s += t + " ";
    return s;
  };
  // WordPiece keeps whole-number pieces; the option leaves none.
  EXPECT_EQ(tokens_of(a).find("2 7 2 9 3"), std::string::npos) << tokens_of(a);
  EXPECT_EQ(tokens_of(b), "[CLS] the pass key is 2 7 2 9 3 . remember it , 1 9 9 9 was long ago . [SEP] ");
  // Each digit is the vocabulary's own digit token, and its span is that digit.
  for (size_t i = 0; i < b.tokens.size(); ++i) {
    if (b.tokens[i].size() != 1 || !std::isdigit(static_cast<unsigned char>(b.tokens[i][0]))) continue;
    EXPECT_EQ(b.ids[i], *split->token_to_id(b.tokens[i]));
    EXPECT_EQ(text.substr(b.byte_offsets[i].first, b.byte_offsets[i].second - b.byte_offsets[i].first), b.tokens[i]);
  }
  const std::string words = "no numbers here, only words.";
  EXPECT_EQ(plain->encode(words).ids, split->encode(words).ids);
  try {
    Tokenizer::from_file(fixture("spm_bpe.model"), TokenizerOptions{.split_digits = true});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizeCli, TokenizeAndDetokenizeRoundTrip) {
  test::TempDir dir;
  std::ofstream(dir.file("in.jsonl")) << R"({"text": "Hello wörld 😀"})" << "\n" << R"({"text": ""})" << "\n";
  auto r = test::run_cli("tokenize --model " + fixture("bpe_byte_fallback.tokenizer.json"), dir.file("in.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::string first, second;
  std::getline(lines, first);
  std::getline(lines, second);
  auto j = nlohmann::json::parse(first);
  auto tok = Tokenizer::from_file(fixture("bpe_byte_fallback.tokenizer.json"));
  Encoding e = tok->encode("Hello wörld 😀");
  EXPECT_EQ(j.at("ids").get<std::vector<int64_t>>(), e.ids);
  EXPECT_EQ(j.at("tokens").get<std::vector<std::string>>(), e.tokens);
  EXPECT_EQ(j.at("offsets").size(), e.size());
  EXPECT_EQ(nlohmann::json::parse(second).at("ids"), nlohmann::json::array({1}));  // just <s>

  std::ofstream(dir.file("ids.jsonl")) << nlohmann::json{{"ids", e.ids}}.dump() << "\n";
  auto d = test::run_cli("detokenize --model " + fixture("bpe_byte_fallback.tokenizer.json"), dir.file("ids.jsonl"));
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_EQ(nlohmann::json::parse(d.output).at("text"), "Hello wörld 😀");

  auto plain = test::run_cli("tokenize --no-add-special-tokens --model " + fixture("bpe_byte_fallback.tokenizer.json"),
                             dir.file("in.jsonl"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(nlohmann::json::parse(plain.output.substr(0, plain.output.find('\n'))).at("ids").size(), e.size() - 1);
}

TEST(TokenizeCli, BadInputIsAOneLineError) {
  test::TempDir dir;
  std::ofstream(dir.file("bad.jsonl")) << "{\"text\": 3}\n";
  auto r = test::run_cli("tokenize --model " + fixture("unigram.tokenizer.json"), dir.file("bad.jsonl"));
  test::expect_one_line_error(r, "e2llm: error: stdin line 1");
  std::ofstream(dir.file("utf8.jsonl")) << "{\"text\": \"a\xFF\"}\n";
  auto u = test::run_cli("tokenize --model " + fixture("unigram.tokenizer.json"), dir.file("utf8.jsonl"));
  test::expect_one_line_error(u, "UTF-8");
}

}  // namespace
}  // namespace e2llm
