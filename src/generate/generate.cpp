// The generation loop: prefill, then sample -> stop check -> stream -> decode step.
#include "e2llm/generate/generate.h"

#include <torch/torch.h>

#include <chrono>

#include "e2llm/core/error.h"
#include "e2llm/core/utf8.h"
#include "generate/generating_sequence.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int64_t> prompt_token_ids(const std::vector<Segment>& prompt) {
  std::vector<int64_t> ids;
  for (const Segment& s : prompt) ids.insert(ids.end(), s.ids.begin(), s.ids.end());
  return ids;
}

int64_t prompt_length(const std::vector<Segment>& prompt) {
  int64_t n = 0;
  for (const Segment& s : prompt) n += s.size();
  return n;
}

StopConfig with_model_eos(StopConfig stop, const CausalLMImpl& lm) {
  if (stop.ignore_eos) return stop;
  for (int64_t id : lm.eos_token_ids()) stop.stop_token_ids.push_back(id);
  return stop;
}

}  // namespace

size_t complete_utf8_prefix(std::string_view text, size_t limit) {
  limit = std::min(limit, text.size());
  // The last lead byte within 4 bytes of the end decides.
  for (size_t back = 1; back <= 4 && back <= limit; ++back) {
    const auto byte = static_cast<unsigned char>(text[limit - back]);
    if (is_utf8_continuation(byte)) continue;  // keep looking for the lead
    // A byte that cannot lead a sequence counts as 1: passed through rather
    // than held back forever.
    return utf8_sequence_length(byte, 1) > back ? limit - back : limit;
  }
  return limit;
}

double GenerateResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? prompt_tokens / prefill_seconds : 0.0;
}

int64_t GenerateResult::generated_tokens() const {
  return static_cast<int64_t>(ids.size()) - (stop_reason == StopReason::kStopToken);
}

double GenerateResult::decode_tokens_per_second() const {
  return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0;
}

GeneratingSequence::GeneratingSequence(const CausalLMImpl& lm, const std::vector<Segment>& prompt,
                                       TokenTextDecoder& decoder, const GenerateOptions& options)
    : stop_(with_model_eos(options.stop, lm)),
      sampler_(options.sampling),
      emitter_(options.on_text),
      decoder_(decoder),
      seen_(prompt_token_ids(prompt)) {
  result_.prompt_tokens = prompt_length(prompt);
  E2LLM_CHECK(result_.prompt_tokens > 0, "generate: the prompt is empty");
  done_ = stop_.reason() != StopReason::kNone;  // max_new_tokens == 0
  result_.stop_reason = stop_.reason();
}

int64_t GeneratingSequence::next(const torch::Tensor& logits) {
  const int64_t id = sampler_.next(logits, seen_);
  result_.ids.push_back(id);
  seen_.push_back(id);
  const std::string piece = stop_.is_stop_token(id) ? std::string() : decoder_.push(id);
  if (stop_.on_token(id, piece) != StopReason::kNone) {
    stop_.on_finish(decoder_.finish());
    result_.stop_reason = stop_.reason();
    result_.text = stop_.text();
    emitter_.finish(result_.text);
    done_ = true;
    return -1;
  }
  emitter_.emit_up_to(stop_.text(), stop_.stable_length());
  return id;
}

GenerateResult generate(CausalLMImpl& lm, const std::vector<Segment>& prompt, TokenTextDecoder& decoder,
                        const GenerateOptions& options) {
  GeneratingSequence sequence(lm, prompt, decoder, options);
  GenerateResult& result = sequence.result();
  if (sequence.done()) return result;

  torch::InferenceMode inference;
  KvCache cache = lm.new_cache(1, result.prompt_tokens + options.stop.max_new_tokens);
  auto start = Clock::now();
  torch::Tensor logits = lm.prefill(prompt, cache);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  for (int64_t id = sequence.next(logits[0]); id >= 0; id = sequence.next(logits[0])) {
    logits = lm.forward_step(torch::tensor({id}, torch::kInt64), cache);
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace e2llm
