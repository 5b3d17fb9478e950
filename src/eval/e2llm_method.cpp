// --method e2llm: a trained checkpoint answering each example.
#include <torch/torch.h>

#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/eval/evaluator.h"

namespace e2llm {
namespace {

class E2llmMethod : public Method {
 public:
  E2llmMethod(const std::string& checkpoint, const AnswerOptions& options, const std::string& weights,
              const std::string& device)
      : model_(load_e2llm(checkpoint, weights, device)), options_(options) {
    options_.on_text = nullptr;
  }

  MethodAnswer answer(const Example& ex) override {
    torch::InferenceMode inference;
    AnswerTiming t;
    MethodAnswer a;
    const ChunkedContext chunked = model_->chunk_context(ex.context);
    // Skipped, as the full-context baseline skips a text that does not fit:
    // one such example does not end the run.
    a.skipped = model_->window_overflow(chunked, ex.prompt);
    if (!a.skipped.empty()) return a;
    a.text = model_->generate(chunked, ex.prompt, options_, &t);
    a.extra = {{"method", "e2llm"},       {"chunks", t.chunks},          {"context_tokens", t.context_tokens},
               {"soft_tokens", t.soft_tokens}, {"new_tokens", t.generated_tokens}, {"encode_s", t.encode_s},
               {"prefill_s", t.prefill_s},   {"decode_s", t.decode_s}};
    return a;
  }

 private:
  std::unique_ptr<E2llmModel> model_;
  AnswerOptions options_;
};

}  // namespace

std::unique_ptr<Method> make_e2llm_method(const std::string& checkpoint, const AnswerOptions& options,
                                          const std::string& weights, const std::string& device) {
  return std::make_unique<E2llmMethod>(checkpoint, options, weights, device);
}

}  // namespace e2llm
