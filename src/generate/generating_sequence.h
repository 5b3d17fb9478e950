// One sequence being generated: its sampler, stop criteria, streaming
// callback and the ids it has seen. generate() runs one over its own KV
// cache; BatchGenerator runs many over a shared one, each behaving as it
// would alone.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "e2llm/generate/generate.h"

namespace e2llm {

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

class Tokenizer;

// The tokenizer's StreamDecoder (special tokens skipped) as a TokenTextDecoder
// (generate_text.cpp).
std::unique_ptr<TokenTextDecoder> make_text_decoder(const Tokenizer& tokenizer);

// A new cache (batch 1) with `prompt` prefilled and room for `new_tokens`
// more; with `start`, a copy of its cache and only the segments after it.
// Returns the logits of the prompt's last position ([1, vocab]).
torch::Tensor prefill_prompt(CausalLMImpl& lm, const std::vector<Segment>& prompt, const PromptState* start,
                             int64_t new_tokens, KvCache& cache);

class GeneratingSequence {
 public:
  // `decoder` and `options` must outlive the sequence (the callback is kept by reference).
  GeneratingSequence(const CausalLMImpl& lm, const std::vector<Segment>& prompt, TokenTextDecoder& decoder,
                     const GenerateOptions& options);
  // Picks the next token from the logits after the last one ([vocab]),
  // streams its text, and returns it (to feed the decoder), or -1 once the
  // sequence stopped and result() is final. Exceptions from the streaming
  // callback propagate.
  int64_t next(const torch::Tensor& logits);
  bool done() const { return done_; }  // also true from the start when max_new_tokens is 0
  // Most tokens it may generate: max_new_tokens, or fewer where the decoder's
  // window ends first (the KV cache's room after the prompt).
  int64_t token_budget() const { return stop_.most_tokens(); }
  GenerateResult& result() { return result_; }

 private:
  StopCriteria stop_;
  Sampler sampler_;
  TextEmitter emitter_;
  TokenTextDecoder& decoder_;
  std::vector<int64_t> seen_;
  GenerateResult result_;
  bool done_ = false;
};

}  // namespace e2llm
