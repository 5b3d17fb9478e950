#include <algorithm>
#include <random>

#include "e2llm/error.h"
#include "e2llm/train_synthetic.h"

namespace e2llm {
namespace {

const std::vector<std::string>& filler_words() {
  static const std::vector<std::string> words = {"the", "grass", "is", "green", "sky", "blue", "sun", "warm",
                                                 "and", "we", "walk", "home", "again", "river", "runs", "slow"};
  return words;
}

std::string fact_sentence(int64_t key, int64_t value) { return fmt::format("k{} holds v{} .", key, value); }

// Word offsets of the facts: sorted, at least `spacing` apart, each at a
// sentence start.
std::vector<int64_t> fact_slots(const KeyValueTaskOptions& o, std::mt19937_64& rng) {
  const int64_t sentences = o.document_words / o.sentence_words;
  const int64_t stride = std::max<int64_t>(1, (o.min_fact_spacing + o.sentence_words - 1) / o.sentence_words);
  E2LLM_CHECK(o.facts_per_document * stride <= sentences,
              "key-value task: {} facts {} words apart do not fit in {} words", o.facts_per_document,
              o.min_fact_spacing, o.document_words);
  // Choose facts_per_document sentence indices with gaps >= stride: pick from
  // the reduced range and spread out again.
  const int64_t free = sentences - (o.facts_per_document - 1) * (stride - 1);
  std::vector<int64_t> pool(free);
  for (int64_t i = 0; i < free; ++i) pool[i] = i;
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<int64_t> picked(pool.begin(), pool.begin() + o.facts_per_document);
  std::sort(picked.begin(), picked.end());
  for (int64_t i = 0; i < o.facts_per_document; ++i) picked[i] += i * (stride - 1);
  return picked;
}

TrainExample make_example(const KeyValueTaskOptions& o, std::mt19937_64& rng) {
  std::vector<int64_t> keys(o.num_keys);
  for (int64_t i = 0; i < o.num_keys; ++i) keys[i] = i;
  std::shuffle(keys.begin(), keys.end(), rng);
  std::vector<int64_t> values(o.facts_per_document);
  for (auto& v : values) v = static_cast<int64_t>(rng() % static_cast<uint64_t>(o.num_values));
  std::vector<int64_t> slots = fact_slots(o, rng);

  const auto& filler = filler_words();
  std::string doc;
  size_t next_fact = 0;
  int64_t words = 0;  // fact sentences are shorter: keep going until the length is reached
  for (int64_t sentence = 0; words < o.document_words; ++sentence) {
    if (next_fact < slots.size() && slots[next_fact] == sentence) {
      doc += fact_sentence(keys[next_fact], values[next_fact]) + " ";
      ++next_fact;
      words += 4;
      continue;
    }
    for (int64_t w = 0; w + 1 < o.sentence_words; ++w)
      doc += filler[rng() % static_cast<uint64_t>(o.filler_vocabulary)] + " ";
    doc += ". ";
    words += o.sentence_words;
  }
  doc.pop_back();
  // The question ends with the key, so that the position that predicts the
  // answer is the key itself: the decoder retrieves in one attention hop.
  const int64_t asked = static_cast<int64_t>(rng() % static_cast<uint64_t>(o.facts_per_document));
  return {doc, fmt::format("what is held by k{}", keys[asked]), fmt::format("v{}", values[asked])};
}

}  // namespace

std::vector<TrainExample> make_key_value_examples(const KeyValueTaskOptions& o, int64_t count, uint64_t seed) {
  E2LLM_CHECK(o.facts_per_document >= 1 && o.facts_per_document <= o.num_keys,
              "key-value task: facts_per_document must be in [1, num_keys={}], got {}", o.num_keys,
              o.facts_per_document);
  E2LLM_CHECK(o.sentence_words >= 2 && o.num_values >= 1, "key-value task: bad sentence_words or num_values");
  E2LLM_CHECK(o.filler_vocabulary >= 1 && o.filler_vocabulary <= static_cast<int64_t>(filler_words().size()),
              "key-value task: filler_vocabulary must be in [1, {}], got {}", filler_words().size(),
              o.filler_vocabulary);
  std::mt19937_64 rng(seed);
  std::vector<TrainExample> out;
  out.reserve(count);
  for (int64_t i = 0; i < count; ++i) out.push_back(make_example(o, rng));
  return out;
}

std::vector<std::string> key_value_vocabulary(const KeyValueTaskOptions& o) {
  std::vector<std::string> words = filler_words();
  for (int64_t i = 0; i < o.num_keys; ++i) words.push_back(fmt::format("k{}", i));
  for (int64_t i = 0; i < o.num_values; ++i) words.push_back(fmt::format("v{}", i));
  for (const char* w : {"holds", "what", "held", "by", "."}) words.push_back(w);
  return words;
}

}  // namespace e2llm
