// Continuous batching: sequences join a batch between decode steps and leave
// it when they stop, and every step is one forward pass over all of them, so
// N concurrent requests cost far less than N times one. Each sequence keeps
// its own sampler, stop criteria and streaming callback and gives the tokens
// generate() would give it alone (greedy: the same ids; the batch only adds
// masked padding slots to its attention).
//
//   BatchGenerator batch(lm, tokenizer);
//   batch.add(prompt, options, on_done, on_failed);   // prefills, joins
//   while (!batch.empty()) batch.step();              // more may join between steps
#pragma once
#include <exception>
#include <functional>
#include <memory>
#include <vector>

#include "e2llm/decoder/decoder.h"
#include "e2llm/generate/generate.h"

namespace e2llm {

class Tokenizer;

class BatchGenerator {
 public:
  using Done = std::function<void(GenerateResult)>;
  using Failed = std::function<void(std::exception_ptr)>;

  // Detokenising with the tokenizer's StreamDecoder (special tokens skipped),
  // or with decoders from `make_decoder`, one per sequence.
  BatchGenerator(CausalLMImpl& lm, const Tokenizer& tokenizer);
  BatchGenerator(CausalLMImpl& lm, std::function<std::unique_ptr<TokenTextDecoder>()> make_decoder);
  ~BatchGenerator();
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Prefills `prompt` on its own and adds the sequence to the batch. Exactly
  // one of `done` (with the result, once it stops) and `failed` (with what
  // its streaming callback threw, or abandon()'s error) is called, from
  // add(), step() or abandon(). A prefill error (e.g. a bad token id)
  // propagates from add() and the sequence is not added. With `start`, the
  // prompt continues that state (generate() says how).
  void add(const std::vector<Segment>& prompt, GenerateOptions options, Done done, Failed failed,
           const PromptState* start = nullptr);
  // One token for every sequence, then one batched forward for those that go on.
  void step();
  // Drops every sequence, calling its `failed` with `error`.
  void abandon(std::exception_ptr error);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry;
  CausalLMImpl& lm_;
  std::function<std::unique_ptr<TokenTextDecoder>()> make_decoder_;
  std::vector<std::unique_ptr<Entry>> entries_;  // entry i is row i of cache_ and logits_
  KvCache cache_;
  torch::Tensor logits_;  // [batch, vocab]: what each sequence samples from next
};

}  // namespace e2llm
