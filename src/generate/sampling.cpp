// Logits processors and warpers with Hugging Face transformers' semantics.
#include "e2llm/generate/sampling.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "e2llm/core/error.h"

namespace e2llm {
namespace {

constexpr float kFiltered = -std::numeric_limits<float>::infinity();

// Scores as float32 [batch, vocab]; `was_1d` lets callers restore the shape.
torch::Tensor as_batch(const torch::Tensor& logits, bool* was_1d) {
  E2LLM_CHECK(logits.dim() == 1 || logits.dim() == 2,
              "sampling: logits must be [vocab] or [batch, vocab], got {} dims", logits.dim());
  E2LLM_CHECK(logits.size(-1) > 0, "sampling: logits have an empty vocabulary");
  *was_1d = logits.dim() == 1;
  torch::Tensor scores = logits.to(torch::kFloat32);
  return *was_1d ? scores.unsqueeze(0) : scores;
}

torch::Tensor restore(const torch::Tensor& scores, bool was_1d) {
  return was_1d ? scores.squeeze(0) : scores;
}

}  // namespace

void SamplingConfig::validate() const {
  E2LLM_CHECK(temperature > 0 && std::isfinite(temperature),
              "sampling: temperature must be a finite number > 0, got {}", temperature);
  E2LLM_CHECK(top_k >= 0, "sampling: top_k must be >= 0 (0 = off), got {}", top_k);
  E2LLM_CHECK(top_p > 0 && top_p <= 1, "sampling: top_p must be in (0, 1], got {}", top_p);
  E2LLM_CHECK(min_p >= 0 && min_p <= 1, "sampling: min_p must be in [0, 1], got {}", min_p);
  E2LLM_CHECK(repetition_penalty > 0 && std::isfinite(repetition_penalty),
              "sampling: repetition_penalty must be a finite number > 0, got {}", repetition_penalty);
  E2LLM_CHECK(no_repeat_ngram_size >= 0, "sampling: no_repeat_ngram_size must be >= 0 (0 = off), got {}",
              no_repeat_ngram_size);
  E2LLM_CHECK(min_tokens_to_keep >= 1, "sampling: min_tokens_to_keep must be >= 1, got {}",
              min_tokens_to_keep);
}

torch::Tensor apply_repetition_penalty(const torch::Tensor& logits, const torch::Tensor& seen_ids,
                                       double penalty) {
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  if (seen_ids.numel() == 0 || penalty == 1.0) return restore(scores, was_1d);
  E2LLM_CHECK(seen_ids.dim() == logits.dim(),
              "repetition penalty: seen ids must have {} dims like the logits, got {}", logits.dim(),
              seen_ids.dim());
  torch::Tensor ids = seen_ids.to(torch::kInt64);
  if (was_1d) ids = ids.unsqueeze(0);
  E2LLM_CHECK(ids.size(0) == scores.size(0), "repetition penalty: {} id rows for {} logit rows",
              ids.size(0), scores.size(0));
  E2LLM_CHECK(ids.min().item<int64_t>() >= 0, "repetition penalty: negative token id");
  // As HF: ids beyond the output vocabulary land in one padding column that is dropped.
  const int64_t vocab = scores.size(1);
  ids = ids.clamp_max(vocab);
  torch::Tensor padded = torch::nn::functional::pad(
      scores, torch::nn::functional::PadFuncOptions({0, 1}));
  torch::Tensor seen = padded.gather(1, ids);
  seen = torch::where(seen < 0, seen * penalty, seen / penalty);
  return restore(padded.scatter(1, ids, seen).narrow(1, 0, vocab), was_1d);
}

torch::Tensor apply_no_repeat_ngram(const torch::Tensor& logits, const torch::Tensor& seen_ids, int64_t ngram_size) {
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  if (ngram_size <= 0 || seen_ids.numel() == 0) return restore(scores, was_1d);
  E2LLM_CHECK(seen_ids.dim() == logits.dim(), "no-repeat n-gram: seen ids must have {} dims like the logits, got {}",
              logits.dim(), seen_ids.dim());
  torch::Tensor ids = seen_ids.to(torch::kCPU, torch::kInt64).contiguous();
  if (was_1d) ids = ids.unsqueeze(0);
  E2LLM_CHECK(ids.size(0) == scores.size(0), "no-repeat n-gram: {} id rows for {} logit rows", ids.size(0),
              scores.size(0));
  const int64_t length = ids.size(1), vocab = scores.size(1), prefix = ngram_size - 1;
  if (length < prefix) return restore(scores, was_1d);
  torch::Tensor banned = torch::zeros(scores.sizes(), torch::kBool);
  auto ban = banned.accessor<bool, 2>();
  for (int64_t row = 0; row < ids.size(0); ++row) {
    const int64_t* seen = ids[row].data_ptr<int64_t>();
    const int64_t* last = seen + length - prefix;  // the n - 1 ids the next token follows
    for (int64_t start = 0; start + ngram_size <= length; ++start) {
      const int64_t next = seen[start + prefix];
      if (next >= 0 && next < vocab && std::equal(seen + start, seen + start + prefix, last)) ban[row][next] = true;
    }
  }
  return restore(scores.masked_fill(banned.to(scores.device()), kFiltered), was_1d);
}

torch::Tensor apply_temperature(const torch::Tensor& logits, double temperature) {
  E2LLM_CHECK(temperature > 0, "temperature must be > 0, got {}", temperature);
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  return restore(scores / temperature, was_1d);
}

torch::Tensor apply_top_k(const torch::Tensor& logits, int64_t top_k, int64_t min_tokens_to_keep) {
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  if (top_k <= 0) return restore(scores, was_1d);
  const int64_t k = std::min(std::max(top_k, min_tokens_to_keep), scores.size(1));
  torch::Tensor kth = std::get<0>(scores.topk(k, 1)).narrow(1, k - 1, 1);
  return restore(scores.masked_fill(scores < kth, kFiltered), was_1d);
}

torch::Tensor apply_top_p(const torch::Tensor& logits, double top_p, int64_t min_tokens_to_keep) {
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  if (top_p >= 1.0) return restore(scores, was_1d);
  auto [sorted, order] = scores.sort(1, /*descending=*/false);
  torch::Tensor cumulative = sorted.softmax(1).cumsum(1);
  torch::Tensor remove_sorted = cumulative <= (1.0 - top_p);
  const int64_t keep = std::min(min_tokens_to_keep, scores.size(1));
  remove_sorted.narrow(1, scores.size(1) - keep, keep).fill_(false);
  torch::Tensor remove = remove_sorted.scatter(1, order, remove_sorted);
  return restore(scores.masked_fill(remove, kFiltered), was_1d);
}

torch::Tensor apply_min_p(const torch::Tensor& logits, double min_p, int64_t min_tokens_to_keep) {
  bool was_1d = false;
  torch::Tensor scores = as_batch(logits, &was_1d);
  if (min_p <= 0.0) return restore(scores, was_1d);
  torch::Tensor probs = scores.softmax(1);
  torch::Tensor threshold = std::get<0>(probs.max(1, /*keepdim=*/true)) * min_p;
  torch::Tensor remove = probs < threshold;
  const int64_t keep = std::min(min_tokens_to_keep, scores.size(1));
  remove.scatter_(1, std::get<1>(probs.topk(keep, 1)), false);
  return restore(scores.masked_fill(remove, kFiltered), was_1d);
}

torch::Tensor process_logits(const torch::Tensor& logits, const torch::Tensor& seen_ids,
                             const SamplingConfig& config) {
  torch::Tensor scores = apply_repetition_penalty(logits, seen_ids, config.repetition_penalty);
  scores = apply_no_repeat_ngram(scores, seen_ids, config.no_repeat_ngram_size);
  if (config.greedy) return scores;
  if (config.temperature != 1.0) scores = apply_temperature(scores, config.temperature);
  scores = apply_top_k(scores, config.top_k, config.min_tokens_to_keep);
  scores = apply_top_p(scores, config.top_p, config.min_tokens_to_keep);
  return apply_min_p(scores, config.min_p, config.min_tokens_to_keep);
}

Sampler::Sampler(const SamplingConfig& config)
    : config_(config), generator_(at::detail::createCPUGenerator(config.seed)) {
  config_.validate();
}

torch::Tensor Sampler::next_batch(const torch::Tensor& logits, const torch::Tensor& seen_ids) {
  E2LLM_CHECK(logits.dim() == 2, "sampler: batch logits must be [batch, vocab], got {} dims",
              logits.dim());
  torch::NoGradGuard no_grad;
  torch::Tensor scores = process_logits(logits.detach().cpu(), seen_ids.cpu(), config_);
  if (config_.greedy) return scores.argmax(1);
  torch::Tensor probs = scores.softmax(1);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator_).squeeze(1);
}

int64_t Sampler::next(const torch::Tensor& logits, const std::vector<int64_t>& seen_ids) {
  E2LLM_CHECK(logits.dim() == 1, "sampler: logits must be [vocab], got {} dims", logits.dim());
  torch::Tensor seen = torch::tensor(seen_ids, torch::kInt64).unsqueeze(0);
  if (seen_ids.empty()) seen = torch::empty({1, 0}, torch::kInt64);
  return next_batch(logits.unsqueeze(0), seen).item<int64_t>();
}

}  // namespace e2llm
