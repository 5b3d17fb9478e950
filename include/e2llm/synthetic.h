// Seeded synthetic long-context tasks (deterministic on every platform: own
// SplitMix64 generator, no std:: distributions):
//  - passkey (LongLoRA / landmark-attention recipe, see ../shared/README.md);
//  - needle in a haystack (gkamradt recipe) over a grid of lengths x depths;
//  - key -> value retrieval: many lines "The value of key <k> is <v>." among
//    filler sentences; "What is the value of key <k>?" -> "<v>". The E2LLM
//    learning test trains on it.
// Lengths are in whitespace words (the tokenizer is not known here).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "e2llm/datasets.h"

namespace e2llm {

struct PasskeyOptions {
  size_t words = 2000;  // context length, approximately (whole filler blocks)
  double depth = 0.5;   // 0 = key at the start, 1 = at the end
  uint64_t seed = 0;
};
Example make_passkey(const PasskeyOptions& options);

struct NeedleOptions {
  size_t words = 2000;
  double depth = 0.5;  // where the needle goes, moved back to a sentence boundary
  uint64_t seed = 0;
  std::string haystack;  // text to cut the haystack from (repeated); "" = built-in neutral sentences
  std::string needle = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.";
  std::string question = "What is the best thing to do in San Francisco?";
  std::string answer = "eat a sandwich and sit in Dolores Park on a sunny day";
};
Example make_needle(const NeedleOptions& options);

// Every (length, depth) pair, `samples` examples each, seeds derived from `seed`.
struct GridOptions {
  std::vector<size_t> lengths{1000, 2000, 4000};
  std::vector<double> depths{0.0, 0.25, 0.5, 0.75, 1.0};
  size_t samples = 1;
  uint64_t seed = 0;
};
std::vector<Example> passkey_grid(const GridOptions& grid);
std::vector<Example> needle_grid(const GridOptions& grid, const NeedleOptions& base = {});

struct KvOptions {
  size_t facts = 8;    // key/value lines in the document (one is asked about)
  size_t words = 200;  // document length; filler sentences make up the rest
  uint64_t seed = 0;
};
// Example `index` of the stream seeded by options.seed.
Example make_kv(const KvOptions& options, size_t index);
std::vector<Example> kv_dataset(const KvOptions& options, size_t count);

}  // namespace e2llm
