#include "e2llm/generate/batch_generate.h"

#include <torch/torch.h>

#include <chrono>

#include "generate/generating_sequence.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

struct BatchGenerator::Entry {
  GenerateOptions options;  // the sequence keeps a reference to its callback
  std::unique_ptr<TokenTextDecoder> decoder;
  std::unique_ptr<GeneratingSequence> sequence;
  Done done;
  Failed failed;
};

BatchGenerator::BatchGenerator(CausalLMImpl& lm, const Tokenizer& tokenizer)
    : BatchGenerator(lm, [&tokenizer] { return make_text_decoder(tokenizer); }) {}

BatchGenerator::BatchGenerator(CausalLMImpl& lm, std::function<std::unique_ptr<TokenTextDecoder>()> make_decoder)
    : lm_(lm), make_decoder_(std::move(make_decoder)) {}

BatchGenerator::~BatchGenerator() = default;

void BatchGenerator::add(const std::vector<Segment>& prompt, GenerateOptions options, Done done, Failed failed,
                         const PromptState* start_state) {
  auto entry = std::unique_ptr<Entry>(
      new Entry{std::move(options), make_decoder_(), nullptr, std::move(done), std::move(failed)});
  entry->sequence = std::make_unique<GeneratingSequence>(lm_, prompt, *entry->decoder, entry->options);
  GenerateResult& result = entry->sequence->result();
  if (entry->sequence->done()) return entry->done(result);

  torch::InferenceMode inference;
  KvCache cache;
  const auto start = Clock::now();
  torch::Tensor logits = prefill_prompt(lm_, prompt, start_state, entry->sequence->token_budget(), cache);
  result.prefill_seconds = seconds_since(start);
  cache_.append(cache);
  logits_ = logits_.defined() ? torch::cat({logits_, logits}) : logits;
  entries_.push_back(std::move(entry));
}

void BatchGenerator::step() {
  if (entries_.empty()) return;
  torch::InferenceMode inference;
  const auto start = Clock::now();
  std::vector<int64_t> keep, next_ids;
  std::vector<std::unique_ptr<Entry>> going_on;
  for (size_t row = 0; row < entries_.size(); ++row) {
    std::unique_ptr<Entry>& entry = entries_[row];
    int64_t id = -1;
    try {
      id = entry->sequence->next(logits_[static_cast<int64_t>(row)]);
    } catch (...) {
      entry->failed(std::current_exception());
      continue;
    }
    if (id < 0) {
      GenerateResult& result = entry->sequence->result();
      result.decode_seconds += seconds_since(start);
      entry->done(result);
      continue;
    }
    keep.push_back(static_cast<int64_t>(row));
    next_ids.push_back(id);
    going_on.push_back(std::move(entry));
  }
  entries_ = std::move(going_on);
  if (entries_.empty()) {
    cache_ = KvCache();
    logits_ = torch::Tensor();
    return;
  }
  if (keep.size() < static_cast<size_t>(cache_.batch_size())) cache_.select(keep);
  logits_ = lm_.forward_step(torch::tensor(next_ids, torch::kInt64), cache_);
  // Each sequence waited for the whole step: that is its decoding time.
  const double seconds = seconds_since(start);
  for (auto& entry : entries_) {
    GenerateResult& result = entry->sequence->result();
    ++result.decode_steps;
    result.decode_seconds += seconds;
  }
}

void BatchGenerator::abandon(std::exception_ptr error) {
  std::vector<std::unique_ptr<Entry>> dropped = std::move(entries_);
  entries_.clear();
  cache_ = KvCache();
  logits_ = torch::Tensor();
  for (auto& entry : dropped) entry->failed(error);
}

}  // namespace e2llm
