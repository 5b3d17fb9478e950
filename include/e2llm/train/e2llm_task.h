// Training E2LLM: examples (e2llm/data/datasets.h, read with
// ExampleUse::training; the first answer is the target), the two-task loss
// L = L_reason + alpha * L_understand, the staged schedule, and evaluation by
// exact match of greedy answers on held-out examples.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "e2llm/data/datasets.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/train/trainer.h"

namespace e2llm {

// Mean cross-entropy of each task on one example (the soft tokens are shared):
// reasoning (answer `prompt` about the whole context) and understanding
// (restate config().understand_chunks consecutive chunks, chosen with `rng`,
// from their soft tokens alone).
struct E2llmLosses {
  torch::Tensor reason, understand;  // understand undefined when alpha == 0
  int64_t tokens = 0;                // encoder + decoder tokens processed
};
E2llmLosses e2llm_losses(E2llmModel& model, const std::string& context, const std::string& prompt,
                         const std::string& answer, std::mt19937_64& rng);
// The same for several examples in one pass: their chunks share encoder
// passes and their sequences padded decoder batches of similar lengths (a row
// is never padded to more than twice its length). One loss pair each.
struct LossExample {
  const std::string& context;
  const std::string& prompt;
  const std::string& answer;
  std::mt19937_64& rng;  // picks the chunks to restate
};
std::vector<E2llmLosses> e2llm_losses(E2llmModel& model, const std::vector<LossExample>& examples);

struct EvalSummary {
  double exact_match = 0;  // fraction in [0, 1]
  int64_t examples = 0;
};
// Equal after SQuAD normalisation (squad_normalize, e2llm/eval/metrics.h:
// lower-cased, ASCII punctuation and a/an/the dropped, whitespace collapsed):
// the exact match `e2llm eval` reports.
bool answers_match(const std::string& predicted, const std::string& expected);

// A hit when the greedy answer matches one of an example's answers.
EvalSummary evaluate_exact_match(E2llmModel& model, const std::vector<Example>& examples,
                                 int64_t max_new_tokens = 32);

class E2llmTrainTask : public TrainTask {
 public:
  // `eval` may be empty; evaluate() uses at most `eval_examples` of it.
  E2llmTrainTask(E2llmModel& model, std::vector<Example> train, std::vector<Example> eval = {},
                 int64_t eval_examples = 64, int64_t eval_max_new_tokens = 32);

  std::vector<std::pair<std::string, torch::Tensor>> named_trainable() override;
  std::vector<std::pair<std::string, torch::Tensor>> named_frozen() override;
  MicroBatchLoss micro_batch_loss(std::mt19937_64& data_rng) override;
  std::vector<MicroBatchLoss> micro_batch_losses(std::vector<std::mt19937_64>& data_rngs) override;
  std::vector<std::string> loss_parts() const override;  // reason, and understand when alpha > 0
  std::string data_identity() const override;            // the ids of the training and eval examples
  void initialize() override;  // calibrates the adapter input on the training contexts
  std::map<std::string, double> evaluate() override;
  // Refuses an eval example the decoder cannot read (its soft tokens and prompt
  // fill the window): a run that evaluates calls it before its first step,
  // rather than meet the example steps into the run.
  void check_eval_fits() const;
  bool parameter_active(const std::string& name, int64_t step) override;
  nlohmann::json config() const override;
  std::vector<BaseModelIdentity> base_models() const override;

 private:
  E2llmModel& model_;
  std::vector<Example> train_, eval_;
  int64_t eval_examples_, eval_max_new_tokens_;
};

}  // namespace e2llm
