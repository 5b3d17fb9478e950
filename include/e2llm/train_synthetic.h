// A synthetic long-document key -> value retrieval task for the CI-sized
// proof that E2LLM learns: a document of filler sentences with a few facts
// "kA holds vB ." scattered far apart, and the question "what is held by kA"
// whose answer "vB" appears only in that fact. Keys are distinct within a
// document and values random, so nothing can be memorised across documents.
// Words are space-separated so that a word-level tokenizer covers them all.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "e2llm/train_data.h"

namespace e2llm {

struct KeyValueTaskOptions {
  int64_t num_keys = 16;            // k0 .. k{n-1}
  int64_t num_values = 16;          // v0 .. v{n-1}
  int64_t facts_per_document = 4;   // <= num_keys
  int64_t document_words = 1400;    // words (and tokens) of filler and facts
  int64_t min_fact_spacing = 64;    // words between two facts, at least
  int64_t sentence_words = 8;       // filler sentence length
  int64_t filler_vocabulary = 16;   // distinct filler words drawn from (1..16)
};

// `count` examples drawn with `seed`; deterministic.
std::vector<TrainExample> make_key_value_examples(const KeyValueTaskOptions& options, int64_t count, uint64_t seed);

// Every word the task uses (filler, keys, values, fact and question words, ".", "?").
std::vector<std::string> key_value_vocabulary(const KeyValueTaskOptions& options);

}  // namespace e2llm
