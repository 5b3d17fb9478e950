// Passkey, needle-in-a-haystack and key -> value generators (see synthetic.h).
#include "e2llm/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "e2llm/core/error.h"

namespace e2llm {
namespace {

// SplitMix64: tiny, fast, and the same stream everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi]; the modulo bias is below 2^-40 for the ranges used here.
  int64_t uniform(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1)); }

 private:
  uint64_t state_;
};

uint64_t derive_seed(uint64_t seed, uint64_t index) { return Rng(seed * 0x100000001B3ull + index).next(); }

const char* const kPasskeyTask =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there.";
const char* const kPasskeyFiller = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

const char* const kNeutralSentences[] = {
    "The river runs slowly past the old mill.",
    "Most mornings the market opens before the sun is fully up.",
    "A light rain fell over the fields during the night.",
    "The library keeps its oldest maps in a cool dry room.",
    "Several boats were tied along the wooden pier.",
    "The road to the village climbs gently through the hills.",
    "Bread from the corner bakery is usually sold out by noon.",
    "The museum added a new wing for textiles last year.",
    "Children played a long game of football in the square.",
    "The train from the coast arrives a little after six.",
    "A narrow path leads from the garden down to the lake.",
    "The orchestra rehearsed the second movement twice.",
    "Fresh snow covered the roofs of the mountain cabins.",
    "The shop on the corner repairs clocks and watches.",
    "Tall grass grew along both sides of the canal.",
    "The committee met on Tuesday to review the budget.",
    "Lanterns were hung along the street for the festival.",
    "The old bridge was rebuilt with stone from the quarry.",
    "A flock of geese crossed the sky heading south.",
    "The students planted a row of young oak trees.",
    "The harbour lights flickered on as evening came.",
    "A small cafe serves soup and bread near the station.",
    "The farmer checked the fences after the storm.",
    "Dust drifted through the beams of afternoon light.",
};
constexpr size_t kNeutralCount = sizeof(kNeutralSentences) / sizeof(kNeutralSentences[0]);

// Keys of the random facts (NeedleOptions::random_fact).
const char* const kFactKeys[] = {
    "anchor",  "badger",   "balcony", "bicycle", "blanket", "bottle",  "canyon",  "carpet",  "castle",  "cedar",
    "chimney", "compass",  "copper",  "cottage", "crystal", "dolphin", "falcon",  "feather", "fountain", "garden",
    "glacier", "granite",  "harbour", "helmet",  "island",  "jacket",  "kettle",  "ladder",  "lantern", "lemon",
    "magnet",  "marble",   "meadow",  "mirror",  "orchard", "otter",   "pebble",  "pepper",  "pillow",  "quarry",
    "rabbit",  "saddle",   "scarf",   "shovel",  "silver",  "spruce",  "teapot",  "thimble", "tunnel",  "violin",
    "walnut",  "whistle",  "window",  "wizard",  "yogurt",  "zephyr",
};
constexpr size_t kFactKeyCount = sizeof(kFactKeys) / sizeof(kFactKeys[0]);

// The phrase facts (NeedleOptions::RandomFact::phrase): "<verb> the <object>
// and <verb> the <object> <when>", about one of the names or occasions, in one
// of the frames. The objects are words of the haystack, or kFactKeys where it
// has too few (phrase_objects): an open vocabulary, so that a fact must be
// read, not picked from a list.
// Kept apart from the San Francisco needle's words, which evaluates them.
const char* const kVerbs[] = {"find",  "check", "move",  "clean", "paint", "carry", "mend",    "count",
                              "sort",  "label", "wrap",  "weigh", "open",  "hide",  "measure", "polish",
                              "bring", "draw",  "fetch", "test"};
constexpr size_t kVerbCount = sizeof(kVerbs) / sizeof(kVerbs[0]);
const char* const kWhen[] = {
    "before sunset",       "after the rain stops", "on a quiet morning",  "in early spring",
    "at the weekend",      "on a windy afternoon", "during the harvest",  "on a cold evening",
    "after lunch",         "before the train leaves", "every second Monday", "when the tide is low",
};
constexpr size_t kWhenCount = sizeof(kWhen) / sizeof(kWhen[0]);
const char* const kNames[] = {"Marta", "Tomas", "Ingrid", "Kofi",  "Lena",  "Rafael", "Yuki",   "Oskar",
                              "Priya", "Dmitri", "Ada",   "Felix", "Nadia", "Hugo",   "Mei",    "Jonas"};
constexpr size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);
const char* const kOccasions[] = {"school holiday", "family reunion", "village fair", "long weekend",
                                  "club outing",    "first snow",     "anniversary",  "summer camp"};
constexpr size_t kOccasionCount = sizeof(kOccasions) / sizeof(kOccasions[0]);

size_t word_count(const std::string& s) {
  size_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t';
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t') {
      if (!w.empty()) out.push_back(std::move(w));
      w.clear();
    } else {
      w.push_back(c);
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

std::string join(const std::vector<std::string>& parts, const char* sep, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out += sep;
    out += parts[i];
  }
  return out;
}

void check_depth(double depth) { E2LLM_CHECK(depth >= 0.0 && depth <= 1.0, "depth {} is outside [0, 1]", depth); }

// `count` whitespace-separated words of `text`, from the first word that
// starts after a byte offset drawn from `rng` on, wrapping around at the end.
// Reads only what it returns: a haystack can be a whole corpus.
std::vector<std::string> words_from(const std::string& text, size_t count, Rng& rng) {
  static constexpr const char* kSpace = " \t\n\r\f\v";
  E2LLM_CHECK(text.find_first_not_of(kSpace) != std::string::npos, "the haystack text has no words");
  const auto offset = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(text.size()) - 1));
  size_t at = text.find_first_of(kSpace, offset);  // skip the word `offset` may be inside
  std::vector<std::string> out;
  while (out.size() < count) {
    at = at == std::string::npos ? std::string::npos : text.find_first_not_of(kSpace, at);
    if (at == std::string::npos) {  // wrap around
      at = text.find_first_not_of(kSpace);
    }
    const size_t end = std::min(text.find_first_of(kSpace, at), text.size());
    out.push_back(text.substr(at, end - at));
    at = end;
  }
  return out;
}

std::vector<std::string> haystack_words(const NeedleOptions& o, Rng& rng) {
  if (!o.haystack.empty()) return words_from(o.haystack, o.words, rng);
  std::vector<std::string> out;
  while (out.size() < o.words) {
    auto s = split_words(kNeutralSentences[rng.uniform(0, kNeutralCount - 1)]);
    out.insert(out.end(), s.begin(), s.end());
  }
  out.resize(o.words);
  return out;
}

// Moves a word position back to just after a sentence end (or to 0).
size_t sentence_boundary_before(const std::vector<std::string>& words, size_t position) {
  while (position > 0 && words[position - 1].back() != '.') --position;
  return position;
}

std::string depth_tag(double depth) { return fmt::format("{}", static_cast<int>(std::lround(depth * 100))); }

std::string random_key(Rng& rng) {
  std::string key(6, 'a');
  for (char& c : key) c = static_cast<char>('a' + rng.uniform(0, 25));
  return key;
}

struct Fact {
  std::string needle, question, answer;
};

Fact random_number_fact(Rng& rng) {  // RULER's single-needle wording
  const char* key = kFactKeys[rng.uniform(0, kFactKeyCount - 1)];
  std::string answer = std::to_string(rng.uniform(1000000, 9999999));
  return {fmt::format("One of the special magic numbers for {} is: {}.", key, answer),
          fmt::format("What is the special magic number for {} mentioned in the provided text?", key), answer};
}

// A lower-case word of 4-12 letters that is not a function word, a filler of
// speech or one of the evaluation needle's words.
bool object_word(const std::string& w) {
  static const std::set<std::string> kExcluded = {
      "about", "actually", "also",   "basically", "because", "been",  "could",   "does",  "doing", "even",
      "from",  "going",    "have",   "here",      "into",    "just",  "kind",    "know",  "like",  "maybe",
      "mean",  "more",     "much",   "only",      "other",   "over",  "probably", "quite", "really", "right",
      "said",  "should",   "some",   "something", "sort",    "still", "that",    "their", "them",  "then",
      "there", "they",     "thing",  "things",    "think",   "this",  "very",    "want",  "well",  "were",
      "what",  "when",     "which",  "will",      "with",    "would", "yeah",    "your",  "okay",
      "best",  "francisco", "sandwich", "dolores", "park", "sunny"};  // the needle's words of 4+ letters
  if (w.size() < 4 || w.size() > 12) return false;
  for (char c : w)
    if (c < 'a' || c > 'z') return false;
  return !kExcluded.count(w);
}

// Candidate objects: the object words among 400 of the haystack's (from an
// offset of their own), or kFactKeys when it has fewer than two.
std::vector<std::string> phrase_objects(const std::string& haystack, Rng& rng) {
  std::vector<std::string> out;
  if (!haystack.empty())
    for (std::string& w : words_from(haystack, 400, rng))
      if (object_word(w)) out.push_back(std::move(w));
  if (std::set<std::string>(out.begin(), out.end()).size() < 2) out.assign(std::begin(kFactKeys), std::end(kFactKeys));
  return out;
}

Fact random_phrase_fact(const std::string& haystack, Rng& rng) {
  const std::vector<std::string> objects = phrase_objects(haystack, rng);
  auto object = [&] { return objects[rng.uniform(0, static_cast<int64_t>(objects.size()) - 1)]; };
  const std::string first = object();
  std::string second = object();
  while (second == first) second = object();
  std::string answer = fmt::format("{} the {} and {} the {} {}", kVerbs[rng.uniform(0, kVerbCount - 1)], first,
                                   kVerbs[rng.uniform(0, kVerbCount - 1)], second, kWhen[rng.uniform(0, kWhenCount - 1)]);
  const char* name = kNames[rng.uniform(0, kNameCount - 1)];
  const char* occasion = kOccasions[rng.uniform(0, kOccasionCount - 1)];
  switch (rng.uniform(0, 4)) {
    case 0:
      return {fmt::format("The doctor told {} to {}.", name, answer), fmt::format("What did the doctor tell {} to do?", name),
              answer};
    case 1:
      return {fmt::format("The plan for the {} is to {}.", occasion, answer),
              fmt::format("What is the plan for the {}?", occasion), answer};
    case 2:
      return {fmt::format("{}'s favourite way to spend a free day is to {}.", name, answer),
              fmt::format("What is {}'s favourite way to spend a free day?", name), answer};
    case 3:
      return {fmt::format("For the {} the children want to {}.", occasion, answer),
              fmt::format("What do the children want to do for the {}?", occasion), answer};
    default:
      return {fmt::format("{} says the secret of a happy life is to {}.", name, answer),
              fmt::format("What does {} say is the secret of a happy life?", name), answer};
  }
}

}  // namespace

Example make_passkey(const PasskeyOptions& o) {
  check_depth(o.depth);
  Rng rng(derive_seed(o.seed, 0));
  const std::string key = std::to_string(rng.uniform(1, 50000));
  const std::string key_line = fmt::format("The pass key is {0}. Remember it. {0} is the pass key.", key);
  const size_t fixed = word_count(kPasskeyTask) + word_count(key_line);
  const size_t filler = o.words > fixed ? o.words - fixed : 0;
  std::vector<std::string> parts{kPasskeyTask};
  if (o.haystack.empty()) {
    // Whole filler blocks for the words the task and key lines leave.
    const size_t blocks = std::max<size_t>(1, filler / word_count(kPasskeyFiller));
    const auto before = static_cast<size_t>(std::lround(o.depth * static_cast<double>(blocks)));
    for (size_t i = 0; i < before; ++i) parts.emplace_back(kPasskeyFiller);
    parts.push_back(key_line);
    for (size_t i = before; i < blocks; ++i) parts.emplace_back(kPasskeyFiller);
  } else {
    const std::vector<std::string> words = words_from(o.haystack, std::max<size_t>(filler, 1), rng);
    const size_t at =
        sentence_boundary_before(words, static_cast<size_t>(std::lround(o.depth * static_cast<double>(words.size()))));
    if (at) parts.push_back(join(words, " ", 0, at));
    parts.push_back(key_line);
    if (at < words.size()) parts.push_back(join(words, " ", at, words.size()));
  }
  Example e;
  e.context = join(parts, " ", 0, parts.size());
  e.id = fmt::format("passkey-{}w-d{}-s{}", o.words, depth_tag(o.depth), o.seed);
  e.prompt = "What is the pass key? The pass key is";
  e.answers = {key};
  e.meta = {{"task", "passkey"}, {"words", word_count(e.context)}, {"depth", o.depth}, {"seed", o.seed}};
  if (!o.haystack.empty()) e.meta["haystack"] = true;
  return e;
}

Example make_needle(const NeedleOptions& o) {
  check_depth(o.depth);
  Rng rng(derive_seed(o.seed, 1));
  auto words = haystack_words(o, rng);
  size_t at = sentence_boundary_before(words, static_cast<size_t>(std::lround(o.depth * static_cast<double>(words.size()))));
  Fact fact{o.needle, o.question, o.answer};
  Rng fact_rng(derive_seed(o.seed, 2));
  if (o.random_fact == NeedleOptions::RandomFact::number) fact = random_number_fact(fact_rng);
  if (o.random_fact == NeedleOptions::RandomFact::phrase) fact = random_phrase_fact(o.haystack, fact_rng);
  const auto& [needle, question, answer] = fact;
  Example e;
  e.context = join(words, " ", 0, at);
  if (at) e.context.push_back(' ');
  e.context += needle;
  if (at < words.size()) e.context += fmt::format(" {}", join(words, " ", at, words.size()));
  e.id = fmt::format("needle-{}w-d{}-s{}", o.words, depth_tag(o.depth), o.seed);
  e.prompt = question;
  e.answers = {answer};
  e.meta = {{"task", "needle"}, {"words", word_count(e.context)}, {"depth", o.depth}, {"seed", o.seed},
            {"needle_word_offset", at}};
  return e;
}

std::vector<Example> passkey_grid(const GridOptions& g, const std::string& haystack) {
  std::vector<Example> out;
  for (size_t length : g.lengths)
    for (double depth : g.depths)
      for (size_t s = 0; s < g.samples; ++s)
        out.push_back(make_passkey({length, depth, derive_seed(g.seed, out.size()), haystack}));
  return out;
}

std::vector<Example> needle_grid(const GridOptions& g, const NeedleOptions& base) {
  std::vector<Example> out;
  for (size_t length : g.lengths)
    for (double depth : g.depths)
      for (size_t s = 0; s < g.samples; ++s) {
        NeedleOptions o = base;
        o.words = length;
        o.depth = depth;
        o.seed = derive_seed(g.seed, out.size());
        out.push_back(make_needle(o));
      }
  return out;
}

namespace {

const char* const kClosedFiller[] = {"the", "grass", "is",    "green", "sky", "blue",  "sun",  "warm",
                                     "and", "we",    "walk",  "home",  "again", "river", "runs", "slow"};
constexpr size_t kClosedFillerCount = sizeof(kClosedFiller) / sizeof(kClosedFiller[0]);

void check_kv(const KvOptions& o) {
  E2LLM_CHECK(o.facts >= 1 && o.facts <= 100000, "kv: facts must be in [1, 100000], got {}", o.facts);
  E2LLM_CHECK(o.min_fact_gap <= 100000, "kv: min_fact_gap must be at most 100000, got {}", o.min_fact_gap);
  if (o.vocabulary == KvVocabulary::natural) return;
  E2LLM_CHECK(o.facts <= o.keys, "kv: facts must be in [1, keys={}], got {}", o.keys, o.facts);
  E2LLM_CHECK(o.keys <= 100000 && o.values >= 1 && o.values <= 100000, "kv: keys and values must be in [1, 100000]");
  E2LLM_CHECK(o.sentence_words >= 2 && o.sentence_words <= 1000, "kv: sentence_words must be in [2, 1000], got {}",
              o.sentence_words);
  E2LLM_CHECK(o.filler_words >= 1 && o.filler_words <= kClosedFillerCount, "kv: filler_words must be in [1, {}], got {}",
              kClosedFillerCount, o.filler_words);
}

// `count` distinct picks from [0, n), in the order drawn (partial Fisher-Yates).
std::vector<size_t> distinct_picks(Rng& rng, size_t n, size_t count) {
  std::vector<size_t> pool(n);
  for (size_t i = 0; i < n; ++i) pool[i] = i;
  for (size_t i = 0; i < count; ++i)
    std::swap(pool[i], pool[static_cast<size_t>(rng.uniform(static_cast<int64_t>(i), static_cast<int64_t>(n) - 1))]);
  pool.resize(count);
  return pool;
}

}  // namespace

Example make_kv(const KvOptions& o, size_t index) {
  check_kv(o);
  const bool closed = o.vocabulary == KvVocabulary::closed;
  Rng rng(derive_seed(o.seed, 1000 + index));
  // The facts: distinct keys, random values.
  std::vector<std::pair<std::string, std::string>> facts;
  if (closed) {
    for (size_t key : distinct_picks(rng, o.keys, o.facts))
      facts.emplace_back(fmt::format("k{}", key), fmt::format("v{}", rng.uniform(0, static_cast<int64_t>(o.values) - 1)));
  } else {
    std::set<std::string> used;
    while (facts.size() < o.facts) {
      std::string key = random_key(rng);
      if (used.insert(key).second) facts.emplace_back(key, std::to_string(rng.uniform(1000, 9999)));
    }
  }
  auto fact_sentence = [&](const std::pair<std::string, std::string>& f) {
    return closed ? fmt::format("{} holds {} .", f.first, f.second)
                  : fmt::format("The value of key {} is {}.", f.first, f.second);
  };
  // Filler sentences until the facts and the filler reach the length.
  std::vector<std::string> filler;
  size_t words = 0;
  for (const auto& f : facts) words += word_count(fact_sentence(f));
  while (words < o.words) {
    if (closed) {
      std::string sentence;
      for (size_t w = 0; w + 1 < o.sentence_words; ++w)
        sentence += fmt::format("{} ", kClosedFiller[rng.uniform(0, static_cast<int64_t>(o.filler_words) - 1)]);
      filler.push_back(sentence + ".");
    } else {
      filler.emplace_back(kNeutralSentences[rng.uniform(0, kNeutralCount - 1)]);
    }
    words += word_count(filler.back());
  }
  // Fact i goes to line at[i] of the filler.size() + facts lines, increasing,
  // with at least min_fact_gap filler lines between two facts: pick from the
  // range with the gaps taken out, then spread out again.
  const size_t gaps = (o.facts - 1) * o.min_fact_gap;
  E2LLM_CHECK(filler.size() >= gaps, "kv: {} facts {} filler sentences apart do not fit in {} words", o.facts,
              o.min_fact_gap, o.words);
  std::vector<size_t> at = distinct_picks(rng, filler.size() + o.facts - gaps, o.facts);
  std::sort(at.begin(), at.end());
  for (size_t i = 0; i < o.facts; ++i) at[i] += i * o.min_fact_gap;
  std::vector<std::string> lines;
  lines.reserve(filler.size() + o.facts);
  for (size_t next_fact = 0, next_filler = 0; lines.size() < filler.size() + o.facts;)
    lines.push_back(next_fact < o.facts && at[next_fact] == lines.size() ? fact_sentence(facts[next_fact++])
                                                                          : std::move(filler[next_filler++]));
  const auto asked = static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(o.facts) - 1));
  Example e;
  e.id = fmt::format("kv{}-f{}-w{}-s{}-{}", closed ? "-closed" : "", o.facts, o.words, o.seed, index);
  e.context = join(lines, closed ? " " : "\n", 0, lines.size());
  e.prompt = closed ? fmt::format("what is held by {}", facts[asked].first)
                    : fmt::format("What is the value of key {}?", facts[asked].first);
  e.answers = {facts[asked].second};
  e.meta = {{"task", "kv"},   {"vocabulary", closed ? "closed" : "natural"}, {"facts", o.facts},
            {"words", word_count(e.context)}, {"seed", o.seed}, {"index", index},
            {"key", facts[asked].first},      {"line", at[asked]}};
  return e;
}

std::vector<Example> kv_dataset(const KvOptions& o, size_t count) {
  std::vector<Example> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(make_kv(o, i));
  return out;
}

std::vector<std::string> kv_vocabulary(const KvOptions& o) {
  check_kv(o);
  std::vector<std::string> words(kClosedFiller, kClosedFiller + kClosedFillerCount);
  for (size_t i = 0; i < o.keys; ++i) words.push_back(fmt::format("k{}", i));
  for (size_t i = 0; i < o.values; ++i) words.push_back(fmt::format("v{}", i));
  for (const char* w : {"holds", "what", "held", "by", "."}) words.push_back(w);
  return words;
}

}  // namespace e2llm
