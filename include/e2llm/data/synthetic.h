// Seeded synthetic long-context tasks (deterministic on every platform: own
// SplitMix64 generator, no std:: distributions):
//  - passkey (LongLoRA / landmark-attention recipe, see ../shared/README.md);
//  - needle in a haystack (gkamradt recipe) over a grid of lengths x depths;
//  - key -> value retrieval: a few facts among filler sentences, one of them
//    asked about; in natural words for real tokenizers, or in a closed
//    vocabulary that a word-level tokenizer covers (the E2LLM learning test
//    trains tiny models on it).
// Lengths are in whitespace words (the tokenizer is not known here).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "e2llm/data/datasets.h"

namespace e2llm {

struct PasskeyOptions {
  size_t words = 2000;  // context length, approximately (whole filler blocks)
  double depth = 0.5;   // 0 = key at the start, 1 = at the end
  uint64_t seed = 0;
  // Real text instead of the repeated filler sentences: the filler words are
  // read from it from a seeded byte offset on (the next word start; wrapping
  // around), exactly as many as `words` leaves, and the key line goes in at a
  // sentence boundary. Only those words are read: it may be a whole corpus.
  std::string haystack{};
};
Example make_passkey(const PasskeyOptions& options);

struct NeedleOptions {
  size_t words = 2000;
  double depth = 0.5;  // where the needle goes, moved back to a sentence boundary
  uint64_t seed = 0;
  // Text to cut the haystack from, from a seeded byte offset on (wrapping
  // around; only the words needed are read); "" = built-in neutral sentences.
  std::string haystack;
  std::string needle = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.";
  std::string question = "What is the best thing to do in San Francisco?";
  std::string answer = "eat a sandwich and sit in Dolores Park on a sunny day";
  // Instead of needle/question/answer, a seeded fact of its own per example
  // (for training: a fixed needle would be learnt by heart):
  //  - number: RULER's wording, "One of the special magic numbers for <key>
  //    is: <7 digits>.";
  //  - phrase: a sentence whose answer is a phrase of words, "The doctor told
  //    Marta to check the budget and paint the remote before sunset." ->
  //    "What did the doctor tell Marta to do?", the objects being words of the
  //    haystack (an open vocabulary: read, not picked from a list); five
  //    sentence frames, none of them nor any of their words the San Francisco
  //    needle's, which evaluates them.
  enum class RandomFact { none, number, phrase };
  RandomFact random_fact = RandomFact::none;
};
Example make_needle(const NeedleOptions& options);

// Every (length, depth) pair, `samples` examples each, seeds derived from `seed`.
struct GridOptions {
  std::vector<size_t> lengths{1000, 2000, 4000};
  std::vector<double> depths{0.0, 0.25, 0.5, 0.75, 1.0};
  size_t samples = 1;
  uint64_t seed = 0;
};
std::vector<Example> passkey_grid(const GridOptions& grid, const std::string& haystack = "");
std::vector<Example> needle_grid(const GridOptions& grid, const NeedleOptions& base = {});

// The words of a key -> value document.
//  - natural: lines "The value of key <6 letters> is <4 digits>." among
//    neutral sentences, one per line; "What is the value of key <k>?" ->
//    "<4 digits>".
//  - closed: "k<i> holds v<j> ." among sentences of `sentence_words` - 1
//    filler words and ".", space-separated; "what is held by k<i>" -> "v<j>"
//    (the question ends with the key: one attention hop from the answer).
//    Every word is in kv_vocabulary().
enum class KvVocabulary { natural, closed };

struct KvOptions {
  size_t facts = 8;    // facts in the document, distinct keys (one is asked about)
  size_t words = 200;  // document length, at least; filler sentences make up the rest
  uint64_t seed = 0;
  KvVocabulary vocabulary = KvVocabulary::natural;
  size_t min_fact_gap = 0;  // filler sentences between two facts, at least
  // closed vocabulary only:
  size_t keys = 16;            // k0 .. k{keys-1}; facts <= keys
  size_t values = 16;          // v0 .. v{values-1}
  size_t sentence_words = 8;   // words of a filler sentence, its "." included
  size_t filler_words = 16;    // filler drawn from the first `filler_words` of 16
};
// Example `index` of the stream seeded by options.seed (every example has
// its own generator: example i is the same whatever the count). meta holds
// task, vocabulary, facts, words, seed, index, the asked key and its `line`
// (the fact's line, natural; its sentence, closed).
Example make_kv(const KvOptions& options, size_t index);
std::vector<Example> kv_dataset(const KvOptions& options, size_t count);
// Closed vocabulary: every word the documents, questions and answers use
// (all 16 filler words, keys, values, "holds", "what", "held", "by", ".").
std::vector<std::string> kv_vocabulary(const KvOptions& options);

}  // namespace e2llm
