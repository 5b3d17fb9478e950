// Next-token selection over a logits tensor: pure functions, no model needed.
// Semantics follow Hugging Face transformers' logits processors and warpers
// (generation/logits_process.py), applied in HF's order:
//   repetition penalty -> no-repeat n-gram -> temperature -> top-k -> top-p -> min-p,
// the last four only when sampling. Filtered entries become -inf.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace e2llm {

struct SamplingConfig {
  bool greedy = true;               // false = sample (HF do_sample=True)
  double temperature = 1.0;         // > 0; 1 = off
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // (0, 1]; 1 = off
  double min_p = 0.0;               // [0, 1]; 0 = off
  double repetition_penalty = 1.0;  // > 0; 1 = off (applies in greedy mode too, as in HF)
  int64_t no_repeat_ngram_size = 0; // >= 0; 0 = off (greedy mode too, as in HF)
  int64_t min_tokens_to_keep = 1;   // every filter keeps at least this many tokens
  uint64_t seed = 0;

  // Throws e2llm::Error naming the bad field.
  void validate() const;
};

// Each takes logits [vocab] or [batch, vocab] (any float dtype) and returns
// float32 scores of the same shape. They never modify their input.

// HF RepetitionPenaltyLogitsProcessor: for every id in `seen_ids` ([len] for
// 1-D logits, [batch, len] for 2-D) the score s becomes s / penalty when
// s > 0, s * penalty otherwise; each id at most once. Ids >= vocab are ignored.
torch::Tensor apply_repetition_penalty(const torch::Tensor& logits, const torch::Tensor& seen_ids,
                                       double penalty);
// HF NoRepeatNGramLogitsProcessor: a token that would complete an n-gram
// already present in `seen_ids` (its n - 1 predecessors equal the last n - 1
// seen ids) gets -inf. n = 1 bans every seen token; fewer than n - 1 seen ids
// ban nothing. seen_ids as for the repetition penalty (rows without padding).
torch::Tensor apply_no_repeat_ngram(const torch::Tensor& logits, const torch::Tensor& seen_ids, int64_t ngram_size);
torch::Tensor apply_temperature(const torch::Tensor& logits, double temperature);
// Keeps every token whose score is >= the k-th largest (ties at the boundary survive).
torch::Tensor apply_top_k(const torch::Tensor& logits, int64_t top_k, int64_t min_tokens_to_keep = 1);
// Drops the least likely tokens whose cumulative probability (ascending) is <= 1 - top_p.
torch::Tensor apply_top_p(const torch::Tensor& logits, double top_p, int64_t min_tokens_to_keep = 1);
// Drops tokens whose probability is < min_p * (probability of the most likely token).
torch::Tensor apply_min_p(const torch::Tensor& logits, double min_p, int64_t min_tokens_to_keep = 1);

// The whole chain in HF's order for `config` (warpers only when !greedy).
torch::Tensor process_logits(const torch::Tensor& logits, const torch::Tensor& seen_ids,
                             const SamplingConfig& config);

// Picks next tokens: argmax of the processed scores when greedy, else a draw
// from softmax(processed scores) with its own seeded generator, so equal
// seeds give equal sequences.
class Sampler {
 public:
  explicit Sampler(const SamplingConfig& config);
  // logits [vocab] -> one id; seen_ids are the ids the penalty looks at (prompt + generated).
  int64_t next(const torch::Tensor& logits, const std::vector<int64_t>& seen_ids);
  // logits [batch, vocab], seen_ids [batch, len] -> ids [batch] (int64).
  torch::Tensor next_batch(const torch::Tensor& logits, const torch::Tensor& seen_ids);
  const SamplingConfig& config() const { return config_; }

 private:
  SamplingConfig config_;
  at::Generator generator_;
};

}  // namespace e2llm
