// The generation loop: prefill, then sample -> stop check -> stream -> decode step.
#include "e2llm/generate/generate.h"

#include <torch/torch.h>

#include <algorithm>
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

// The model's EOS ids, and its window: a prompt past the window is refused
// (its positions would lie beyond the ones the model was trained on), and the
// answer stops where the window ends, so that --max-new-tokens 1000000 sizes
// no KV cache past it.
StopConfig with_model_limits(StopConfig stop, const CausalLMImpl& lm, int64_t prompt_tokens) {
  const int64_t window = lm.config().context_window();
  E2LLM_CHECK(prompt_tokens < window,
              "generate: the prompt takes {} positions, {} the decoder's window of {}: no room for an answer",
              prompt_tokens, prompt_tokens == window ? "all of" : "past", window);
  const int64_t left = window - prompt_tokens;
  stop.window_left = stop.window_left >= 0 ? std::min(stop.window_left, left) : left;
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
    : stop_(with_model_limits(options.stop, lm, prompt_length(prompt))),
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

PromptState prefill_state(CausalLMImpl& lm, const std::vector<Segment>& prompt, const PromptState* start) {
  torch::InferenceMode inference;
  E2LLM_CHECK(prompt_length(prompt) > 0, "prefill_state: the prompt is empty");
  PromptState state;
  state.segments = prompt.size();
  prefill_prompt(lm, prompt, start, 0, state.cache);
  return state;
}

torch::Tensor prefill_prompt(CausalLMImpl& lm, const std::vector<Segment>& prompt, const PromptState* start,
                             int64_t new_tokens, KvCache& cache) {
  if (!start) {
    cache = lm.new_cache(1, prompt_length(prompt) + new_tokens);
    return lm.prefill(prompt, cache);
  }
  E2LLM_CHECK(start->segments < prompt.size(),
              "generate: the prompt has {} segments, the state holds {}: nothing follows it", prompt.size(),
              start->segments);
  const std::vector<Segment> held(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(start->segments));
  const std::vector<Segment> rest(prompt.begin() + static_cast<std::ptrdiff_t>(start->segments), prompt.end());
  E2LLM_CHECK(prompt_length(held) == start->positions(),
              "generate: the state holds {} positions, the prompt's first {} segments {}", start->positions(),
              start->segments, prompt_length(held));
  cache = start->cache.resized(start->positions() + prompt_length(rest) + new_tokens);
  return lm.prefill(rest, cache);
}

GenerateResult generate(CausalLMImpl& lm, const std::vector<Segment>& prompt, TokenTextDecoder& decoder,
                        const GenerateOptions& options, const PromptState* start_state) {
  GeneratingSequence sequence(lm, prompt, decoder, options);
  GenerateResult& result = sequence.result();
  if (sequence.done()) return result;

  torch::InferenceMode inference;
  KvCache cache;
  auto start = Clock::now();
  torch::Tensor logits = prefill_prompt(lm, prompt, start_state, sequence.token_budget(), cache);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  for (int64_t id = sequence.next(logits[0]); id >= 0; id = sequence.next(logits[0])) {
    logits = lm.forward_step(torch::tensor({id}, torch::kInt64), cache);
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

void PromptPrefixCache::keep(const std::vector<int64_t>& head) {
  reused_ = std::mismatch(head.begin(), head.end(), ids_.begin(), ids_.end()).first - head.begin();
  if (ids_ == head) return;
  PromptState shared;
  if (reused_ > 0) shared = PromptState{state_.cache.resized(reused_, reused_), 1};
  state_ = {};  // its memory goes before the new state's is taken
  ids_.clear();
  if (reused_ == static_cast<int64_t>(head.size())) {
    state_ = std::move(shared);
  } else {
    const auto split = head.begin() + reused_;
    const Segment before = Segment::tokens({head.begin(), split}), rest = Segment::tokens({split, head.end()});
    state_ = reused_ > 0 ? prefill_state(lm_, {before, rest}, &shared) : prefill_state(lm_, {rest});
  }
  state_.segments = 1;  // the shared tokens and the rest: the next prompt's one head segment
  ids_ = head;
}

GenerateResult PromptPrefixCache::generate(const std::vector<int64_t>& ids, TokenTextDecoder& decoder,
                                           const GenerateOptions& options) {
  E2LLM_CHECK(!ids.empty(), "generate: the prompt is empty");
  reused_ = 0;
  if (ids.size() == 1) return e2llm::generate(lm_, {Segment::tokens(ids)}, decoder, options);
  const std::vector<int64_t> head(ids.begin(), ids.end() - 1);
  const auto start = Clock::now();
  keep(head);
  const double kept_prefill = seconds_since(start);
  GenerateResult result =
      e2llm::generate(lm_, {Segment::tokens(head), Segment::tokens({ids.back()})}, decoder, options, &state_);
  result.prefill_seconds += kept_prefill;
  return result;
}

}  // namespace e2llm
