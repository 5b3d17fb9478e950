// Text generation over a CausalLM: prefill the prompt (token ids and/or soft
// tokens) into a KV cache, then decode one token at a time with the sampler,
// the stop criteria and a streaming callback that only ever receives whole
// UTF-8 characters and never any part of a stop string.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "e2llm/decoder/decoder.h"
#include "e2llm/decoder/kv_cache.h"
#include "e2llm/generate/sampling.h"
#include "e2llm/generate/stop_criteria.h"

namespace e2llm {

// Turns generated ids into text incrementally: push() returns the bytes the
// new token adds (possibly an incomplete UTF-8 sequence; generate() holds
// those back until complete). Adapts a tokenizer's streaming decoder.
class TokenTextDecoder {
 public:
  virtual ~TokenTextDecoder() = default;
  virtual std::string push(int64_t id) = 0;
  // Text still held back when the stream ends (e.g. a word waiting for its end).
  virtual std::string finish() { return {}; }
};

class Tokenizer;

struct GenerateOptions {
  SamplingConfig sampling;
  StopConfig stop;  // the model's eos ids are added to stop.stop_token_ids
  // Text as it becomes final (whole UTF-8 characters, stop strings removed).
  std::function<void(std::string_view)> on_text;
};

struct GenerateResult {
  std::vector<int64_t> ids;  // generated ids, a final stop token included (as HF)
  std::string text;          // their text; stop token and stop string excluded
  StopReason stop_reason = StopReason::kNone;
  int64_t prompt_tokens = 0;    // token + soft positions prefilled
  int64_t decode_steps = 0;     // forward_step calls
  double prefill_seconds = 0;   // prefill forward
  double decode_seconds = 0;    // every forward_step, sampling and detokenising

  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
  // Tokens of the answer: ids without a final stop token.
  int64_t generated_tokens() const;
};

// The decoder's KV cache after a prompt's first `segments` segments (batch 1,
// no spare slots). Prompts that begin with those segments start from a copy
// and prefill only the rest: E2LLM reads a document once (prefix, markers,
// soft tokens) and every question about it starts there.
struct PromptState {
  KvCache cache;
  size_t segments = 0;
  int64_t positions() const { return cache.used(); }
};
// With `start` (holding the prompt's first start->segments segments, as
// generate() takes it), only the segments after it are prefilled.
PromptState prefill_state(CausalLMImpl& lm, const std::vector<Segment>& prompt, const PromptState* start = nullptr);

// One sequence. The repetition penalty looks at the prompt's token ids and
// the generated ids (soft tokens have none). Runs without autograd. With
// `start`, the prompt's first start->segments segments must be the ones it
// was prefilled from (their positions are checked), and at least one follows.
GenerateResult generate(CausalLMImpl& lm, const std::vector<Segment>& prompt, TokenTextDecoder& decoder,
                        const GenerateOptions& options, const PromptState* start = nullptr);

// The same, detokenising with the tokenizer's StreamDecoder (special tokens skipped).
GenerateResult generate(CausalLMImpl& lm, const Tokenizer& tokenizer, const std::vector<Segment>& prompt,
                        const GenerateOptions& options, const PromptState* start = nullptr);

// Generation over token prompts that keeps the last prompt's prefill: the
// next prompt prefills only what follows the tokens the two share (a
// baseline's questions about one document share the document before them),
// as llama.cpp's server does for a slot. One sequence at a time. The prompt's
// last token is always prefilled with the generation, so what is kept is
// every token before it.
class PromptPrefixCache {
 public:
  explicit PromptPrefixCache(CausalLMImpl& lm) : lm_(lm) {}
  // generate() of `ids`; its prefill_seconds count the prefill of the kept
  // part too.
  GenerateResult generate(const std::vector<int64_t>& ids, TokenTextDecoder& decoder, const GenerateOptions& options);
  // The same, detokenising with the tokenizer's StreamDecoder (special tokens skipped).
  GenerateResult generate(const Tokenizer& tokenizer, const std::vector<int64_t>& ids, const GenerateOptions& options);
  int64_t reused_tokens() const { return reused_; }  // by the last generate()

 private:
  // Makes state_ hold `head`, from what it shares with the tokens held before.
  void keep(const std::vector<int64_t>& head);

  CausalLMImpl& lm_;
  std::vector<int64_t> ids_;  // the tokens state_ holds
  PromptState state_;
  int64_t reused_ = 0;
};

// Length in bytes of the longest prefix of text[0, limit) that ends on a
// UTF-8 character boundary (an incomplete trailing sequence is cut off).
size_t complete_utf8_prefix(std::string_view text, size_t limit);

}  // namespace e2llm
