// Passkey, needle and key -> value generators, and `e2llm synth`.
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/metrics.h"
#include "e2llm/data/synthetic.h"
#include "test_util.h"

using namespace e2llm;

namespace {
size_t words_in(const std::string& s) {
  std::istringstream in(s);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}
}  // namespace

TEST(Passkey, KeyAtTheRequestedDepthAndSeeded) {
  Example a = make_passkey({.words = 2000, .depth = 0.5, .seed = 7});
  ASSERT_EQ(a.answers.size(), 1u);
  int key = std::stoi(a.answers[0]);
  EXPECT_GE(key, 1);
  EXPECT_LE(key, 50000);
  std::string line = "The pass key is " + a.answers[0] + ". Remember it. " + a.answers[0] + " is the pass key.";
  size_t at = a.context.find(line);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NEAR(static_cast<double>(at) / static_cast<double>(a.context.size()), 0.5, 0.05);
  EXPECT_NEAR(static_cast<double>(words_in(a.context)), 2000.0, 40.0);
  EXPECT_EQ(a.prompt, "What is the pass key? The pass key is");
  EXPECT_EQ(make_passkey({.words = 2000, .depth = 0.5, .seed = 7}).context, a.context);  // deterministic
  std::set<std::string> keys;
  for (uint64_t s = 0; s < 20; ++s) keys.insert(make_passkey({.words = 200, .depth = 0.0, .seed = s}).answers[0]);
  EXPECT_GT(keys.size(), 15u);
  EXPECT_EQ(make_passkey({.words = 200, .depth = 0.0, .seed = 1}).context.find("There is an important info"), 0u);
  EXPECT_THROW(make_passkey({.words = 200, .depth = 1.5, .seed = 1}), Error);
}

TEST(Passkey, InRealTextTheFillerIsCutFromTheHaystackAtASeededOffset) {
  std::ostringstream text;  // w0 .. w299, a sentence every 6 words
  for (int i = 0; i < 300; ++i) text << 'w' << i << (i % 6 == 5 ? ". " : " ");
  const std::string haystack = text.str();
  PasskeyOptions o{1000, 0.25, 3, haystack};
  Example a = make_passkey(o);
  const std::string line = "The pass key is " + a.answers[0] + ". Remember it. " + a.answers[0] + " is the pass key.";
  const size_t at = a.context.find(line);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(a.context.find(line, at + 1), std::string::npos);  // once
  EXPECT_EQ(a.context.find("There is an important info"), 0u);
  EXPECT_NEAR(static_cast<double>(words_in(a.context)), 1000.0, 2.0);
  EXPECT_NEAR(static_cast<double>(at) / static_cast<double>(a.context.size()), 0.25, 0.05);
  EXPECT_EQ(a.context[at - 2], '.') << "the key line starts a sentence";
  EXPECT_EQ(a.context.find("grass is green"), std::string::npos);
  EXPECT_EQ(a.meta["haystack"], true);
  // Consecutive haystack words, wrapping around after w299.
  auto first_filler = [](const std::string& c) {
    std::smatch m;
    return std::regex_search(c, m, std::regex(R"(\bw\d+)")) ? static_cast<size_t>(m.position(0)) : c.size();
  };
  std::istringstream words(a.context.substr(first_filler(a.context)));
  std::string previous, word;
  int checked = 0;
  for (words >> previous; words >> word && word[0] == 'w'; previous = word, ++checked) {
    const int p = std::stoi(previous.substr(1)), w = std::stoi(word.substr(1));
    EXPECT_EQ(w, (p + 1) % 300) << previous << " " << word;
  }
  EXPECT_GT(checked, 100);
  EXPECT_EQ(make_passkey(o).context, a.context);  // deterministic
  std::set<std::string> starts;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    o.seed = seed;
    const std::string c = make_passkey(o).context;
    starts.insert(c.substr(first_filler(c), 6));
  }
  EXPECT_GT(starts.size(), 5u) << "the offset varies with the seed";
  EXPECT_THROW(make_passkey({100, 0.5, 1, "   "}), Error);
}

TEST(Needle, InsertedAtSentenceBoundaryNearDepth) {
  NeedleOptions o;
  o.words = 1000;
  for (double depth : {0.0, 0.3, 1.0}) {
    o.depth = depth;
    Example e = make_needle(o);
    size_t at = e.context.find(o.needle);
    ASSERT_NE(at, std::string::npos);
    EXPECT_TRUE(at == 0 || e.context.substr(at - 2, 2) == ". ") << depth;
    size_t words_before = words_in(e.context.substr(0, at));
    EXPECT_LE(words_before, static_cast<size_t>(depth * 1000) + 1);
    EXPECT_GE(words_before + 20, static_cast<size_t>(depth * 1000));  // moved back by at most one sentence
    EXPECT_TRUE(needle_correct(e.answers[0], o.needle));
  }
}

TEST(Needle, InRealTextTheHaystackStartsAtASeededOffset) {
  std::ostringstream text;  // w0 .. w99, a sentence every 5 words
  for (int i = 0; i < 100; ++i) text << 'w' << i << (i % 5 == 4 ? ". " : " ");
  NeedleOptions o;
  o.words = 400;  // four times the haystack: it wraps around
  o.haystack = text.str();
  std::set<std::string> starts;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    o.seed = seed;
    const Example e = make_needle(o);
    EXPECT_EQ(words_in(e.context), 400u + words_in(o.needle));
    EXPECT_NE(e.context.find(o.needle), std::string::npos);
    starts.insert(e.context.substr(0, e.context.find(' ')));
    EXPECT_EQ(make_needle(o).context, e.context);  // deterministic
  }
  EXPECT_GT(starts.size(), 5u) << "the offset varies with the seed";
}

TEST(Needle, RandomFactsDifferPerExampleAndAreAnsweredByTheirNeedle) {
  NeedleOptions o;
  o.words = 300;
  o.random_fact = NeedleOptions::RandomFact::number;
  std::set<std::string> answers;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    o.seed = seed;
    const Example e = make_needle(o);
    ASSERT_EQ(e.answers.size(), 1u);
    const std::string& number = e.answers[0];
    EXPECT_EQ(number.size(), 7u);
    std::smatch key;
    ASSERT_TRUE(std::regex_search(e.prompt, key, std::regex(R"(magic number for (\w+) mentioned)"))) << e.prompt;
    EXPECT_NE(e.context.find("One of the special magic numbers for " + key[1].str() + " is: " + number + "."),
              std::string::npos);
    EXPECT_EQ(e.context.find("San Francisco"), std::string::npos);
    answers.insert(number);
  }
  EXPECT_GT(answers.size(), 15u);
}

// "<verb> the <object> and <verb> the <object> <when>" -> the two objects.
std::vector<std::string> phrase_objects_of(const std::string& phrase) {
  std::smatch m;
  EXPECT_TRUE(std::regex_match(phrase, m, std::regex(R"(\w+ the (\w+) and \w+ the (\w+) .+)"))) << phrase;
  return m.size() == 3 ? std::vector<std::string>{m[1].str(), m[2].str()} : std::vector<std::string>{};
}

TEST(Needle, RandomPhrasesAreAnsweredByTheirNeedleAndNeverByTheSanFranciscoOne) {
  NeedleOptions o;
  o.words = 300;
  o.random_fact = NeedleOptions::RandomFact::phrase;
  const NeedleOptions fixed;
  std::set<std::string> answers, frames;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    o.seed = seed;
    const Example e = make_needle(o);
    ASSERT_EQ(e.answers.size(), 1u);
    const std::string& phrase = e.answers[0];
    const std::vector<std::string> objects = phrase_objects_of(phrase);
    ASSERT_EQ(objects.size(), 2u);
    EXPECT_NE(objects[0], objects[1]);
    // Planted once, as the end of its sentence.
    const size_t at = e.context.find(" to " + phrase + ".");
    ASSERT_NE(at, std::string::npos) << e.context;
    EXPECT_EQ(e.context.find(phrase), at + 4) << "planted once";
    EXPECT_EQ(e.context.find(phrase, at + 4 + phrase.size()), std::string::npos) << "planted once";
    EXPECT_EQ(e.prompt.back(), '?');
    for (const char* word : {"San Francisco", "sandwich", "Dolores", "Park", "sunny", "best thing"})
      EXPECT_EQ(e.context.find(word), std::string::npos) << word << " is the evaluation needle's";
    EXPECT_EQ(make_needle(o).context, e.context);  // deterministic
    answers.insert(phrase);
    for (const char* frame : {"doctor", "plan for", "favourite way", "children want", "secret of"})
      if (e.prompt.find(frame) != std::string::npos) frames.insert(frame);
  }
  EXPECT_GT(answers.size(), 190u) << "a phrase of its own per example";
  EXPECT_EQ(frames.size(), 5u) << "every sentence frame is used";
  EXPECT_NE(make_needle(o).answers[0], fixed.answer);
}

TEST(Needle, RandomPhrasesTakeTheirObjectsFromTheHaystackWords) {
  // Candidate words, one sentence each, and words no phrase may take: too short,
  // not lower-case letters, a filler of speech, the evaluation needle's.
  std::set<std::string> candidates;
  std::ostringstream text;
  for (int i = 0; i < 300; ++i) {
    const std::string word = "obj" + std::string(1, static_cast<char>('a' + i % 26)) +
                             std::string(1, static_cast<char>('a' + i / 26));
    candidates.insert(word);
    text << "Uh the " << word << " is Blue2 , yeah okay sandwich park . ";
  }
  NeedleOptions o;
  o.words = 200;
  o.haystack = text.str();
  o.random_fact = NeedleOptions::RandomFact::phrase;
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    o.seed = seed;
    for (const std::string& object : phrase_objects_of(make_needle(o).answers[0])) {
      EXPECT_TRUE(candidates.count(object)) << object << " is not one of the haystack's object words";
      seen.insert(object);
    }
  }
  EXPECT_GT(seen.size(), 60u) << "an open vocabulary, not a list";
}

TEST(Needle, GridCoversLengthsTimesDepthsWithUniqueIds) {
  GridOptions g;
  g.lengths = {500, 1000};
  g.depths = {0, 0.5, 1};
  g.samples = 2;
  auto v = needle_grid(g);
  ASSERT_EQ(v.size(), 12u);
  std::set<std::string> ids;
  for (const auto& e : v) ids.insert(e.id);
  EXPECT_EQ(ids.size(), v.size()) << "every needle example has its own id";
  const std::vector<Example> keys = passkey_grid(g);
  ASSERT_EQ(keys.size(), 12u);
  ids.clear();
  for (const auto& e : keys) ids.insert(e.id);
  EXPECT_EQ(ids.size(), keys.size()) << "every passkey example has its own id";
  EXPECT_EQ(passkey_grid(g)[3].context, keys[3].context) << "seeded: the same grid twice";
}

TEST(KeyValue, QuestionAnsweredByExactlyOneFactLine) {
  KvOptions o{12, 300, 5};
  auto v = kv_dataset(o, 20);
  ASSERT_EQ(v.size(), 20u);
  std::regex fact(R"(The value of key ([a-z]{6}) is ([0-9]{4})\.)");
  for (const auto& e : v) {
    std::smatch m;
    std::string key = e.meta["key"];
    EXPECT_EQ(e.prompt, "What is the value of key " + key + "?");
    size_t facts = 0, matches = 0;
    for (auto it = std::sregex_iterator(e.context.begin(), e.context.end(), fact); it != std::sregex_iterator(); ++it) {
      ++facts;
      if ((*it)[1] == key) {
        ++matches;
        EXPECT_EQ((*it)[2], e.answers[0]);
      }
    }
    EXPECT_EQ(facts, 12u);
    EXPECT_EQ(matches, 1u);
    EXPECT_GE(words_in(e.context), 300u);
    // meta.line is the fact's line
    std::istringstream lines(e.context);
    std::string line;
    for (size_t i = 0; i <= e.meta["line"].get<size_t>(); ++i) std::getline(lines, line);
    EXPECT_NE(line.find(key), std::string::npos);
  }
  EXPECT_EQ(make_kv(o, 3).context, v[3].context);
  EXPECT_NE(make_kv({12, 300, 6}, 3).context, v[3].context);
}

TEST(SynthCli, WritesSeededJsonl) {
  test::TempDir dir;
  auto r = test::run_cli("synth --task kv --facts 4 --words 60 --count 3 --seed 9 --output " + dir.file("kv.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto v = read_examples(dir.file("kv.jsonl"));
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1].context, make_kv({4, 60, 9}, 1).context);
  r = test::run_cli("synth --task passkey --lengths 300,600 --depths 0,1 --output " + dir.file("p.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_examples(dir.file("p.jsonl")).size(), 4u);
  r = test::run_cli("synth --task nope --output " + dir.file("x.jsonl"));
  test::expect_one_line_error(r, "--task: nope not in {passkey,needle,kv} (e2llm synth --help lists the options)");
}

// Bad counts and another task's options are refused before anything is made,
// not read as 2^64 - 1 or silently ignored.
TEST(SynthCli, RefusesBadCountsAndOtherTasksOptions) {
  test::TempDir dir;
  const std::string out = " --output " + dir.file("x.jsonl");
  for (const char* bad : {"--task passkey --samples -1", "--task passkey --lengths 300,-1", "--task needle --depths 1.5",
                          "--task kv --count 0", "--task kv --words -5"}) {
    const test::CommandResult r = test::run_cli(std::string("synth ") + bad + out);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.output.find(std::string(bad).substr(std::string(bad).rfind("--"), 7)), std::string::npos)
        << bad << ": the error names the option: " << r.output;
  }
  test::CommandResult r = test::run_cli("synth --task passkey --count 500" + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--count is an option of --task kv, not of --task passkey"), std::string::npos) << r.output;
  r = test::run_cli("synth --task kv --random-facts" + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--random-facts is an option of --task needle"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.jsonl")));
}
