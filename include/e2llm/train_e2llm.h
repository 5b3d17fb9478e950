// Training E2LLM: JSON Lines data {"context", "prompt", "answer"} (the
// reference implementation's format), the two-task loss
// L = L_reason + alpha * L_understand, the staged schedule, and evaluation by
// exact match of greedy answers on held-out examples.
#pragma once
#include <string>
#include <vector>

#include "e2llm/e2llm.h"
#include "e2llm/train.h"
#include "e2llm/train_data.h"

namespace e2llm {

struct EvalSummary {
  double exact_match = 0;  // fraction in [0, 1]
  int64_t examples = 0;
};
EvalSummary evaluate_exact_match(E2llmModel& model, const std::vector<TrainExample>& examples,
                                 int64_t max_new_tokens = 32);

class E2llmTrainTask : public TrainTask {
 public:
  // `eval` may be empty; evaluate() uses at most `eval_examples` of it.
  E2llmTrainTask(E2llmModel& model, std::vector<TrainExample> train, std::vector<TrainExample> eval = {},
                 int64_t eval_examples = 64, int64_t eval_max_new_tokens = 32);

  std::vector<std::pair<std::string, torch::Tensor>> named_trainable() override;
  std::vector<std::pair<std::string, torch::Tensor>> named_frozen() override;
  MicroBatchLoss micro_batch_loss(std::mt19937_64& data_rng) override;
  void initialize() override;  // calibrates the adapter input on the training contexts
  std::map<std::string, double> evaluate() override;
  bool parameter_active(const std::string& name, int64_t step) override;
  nlohmann::json config() const override;
  std::vector<BaseModelIdentity> base_models() const override;

 private:
  E2llmModel& model_;
  std::vector<TrainExample> train_, eval_;
  int64_t eval_examples_, eval_max_new_tokens_;
};

}  // namespace e2llm
