// The generation loop: prefill, then sample -> stop check -> stream -> decode step.
#include "e2llm/generate/generate.h"

#include <torch/torch.h>

#include <chrono>

#include "e2llm/core/error.h"
#include "e2llm/core/utf8.h"

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
  for (int64_t id : lm.eos_token_ids()) stop.stop_token_ids.push_back(id);
  return stop;
}

// Forwards final text to the callback exactly once, whole characters only.
class TextEmitter {
 public:
  explicit TextEmitter(const std::function<void(std::string_view)>& callback) : callback_(callback) {}
  void emit_up_to(const std::string& text, size_t limit) {
    const size_t end = complete_utf8_prefix(text, limit);
    if (end > emitted_ && callback_) callback_(std::string_view(text).substr(emitted_, end - emitted_));
    emitted_ = std::max(emitted_, end);
  }
  void finish(const std::string& text) {
    if (text.size() > emitted_ && callback_) callback_(std::string_view(text).substr(emitted_));
    emitted_ = text.size();
  }

 private:
  const std::function<void(std::string_view)>& callback_;
  size_t emitted_ = 0;
};

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

double GenerateResult::decode_tokens_per_second() const {
  return decode_seconds > 0 ? decode_steps / decode_seconds : 0.0;
}

GenerateResult generate(CausalLMImpl& lm, const std::vector<Segment>& prompt, TokenTextDecoder& decoder,
                        const GenerateOptions& options) {
  GenerateResult result;
  result.prompt_tokens = prompt_length(prompt);
  E2LLM_CHECK(result.prompt_tokens > 0, "generate: the prompt is empty");
  StopCriteria stop(with_model_eos(options.stop, lm));
  Sampler sampler(options.sampling);
  TextEmitter emitter(options.on_text);
  std::vector<int64_t> seen = prompt_token_ids(prompt);
  if (stop.reason() != StopReason::kNone) {  // max_new_tokens == 0
    result.stop_reason = stop.reason();
    return result;
  }

  torch::InferenceMode inference;
  KvCache cache = lm.new_cache(1, result.prompt_tokens + options.stop.max_new_tokens);
  auto start = Clock::now();
  torch::Tensor logits = lm.prefill(prompt, cache);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  while (true) {
    const int64_t id = sampler.next(logits[0], seen);
    result.ids.push_back(id);
    seen.push_back(id);
    const std::string piece = stop.is_stop_token(id) ? std::string() : decoder.push(id);
    if (stop.on_token(id, piece) != StopReason::kNone) break;
    emitter.emit_up_to(stop.text(), stop.stable_length());
    logits = lm.forward_step(torch::tensor({id}, torch::kInt64), cache);
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(start);
  stop.on_finish(decoder.finish());
  result.stop_reason = stop.reason();
  result.text = stop.text();
  emitter.finish(result.text);
  return result;
}

}  // namespace e2llm
