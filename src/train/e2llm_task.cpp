#include "e2llm/error.h"
#include "e2llm/train_e2llm.h"

namespace e2llm {
namespace {

bool is_lora(const std::string& name) { return name.find("_lora.") != std::string::npos; }

}  // namespace

EvalSummary evaluate_exact_match(E2llmModel& model, const std::vector<TrainExample>& examples, int64_t max_new_tokens) {
  EvalSummary summary;
  int64_t hits = 0;
  for (const TrainExample& e : examples) {
    hits += answers_match(model.generate(e.context, e.prompt, {max_new_tokens}), e.answer);
    ++summary.examples;
  }
  summary.exact_match = summary.examples ? static_cast<double>(hits) / static_cast<double>(summary.examples) : 0;
  return summary;
}

E2llmTrainTask::E2llmTrainTask(E2llmModel& model, std::vector<TrainExample> train, std::vector<TrainExample> eval,
                               int64_t eval_examples, int64_t eval_max_new_tokens)
    : model_(model),
      train_(std::move(train)),
      eval_(std::move(eval)),
      eval_examples_(eval_examples),
      eval_max_new_tokens_(eval_max_new_tokens) {
  E2LLM_CHECK(!train_.empty(), "training: no training examples");
  if (static_cast<int64_t>(eval_.size()) > eval_examples_) eval_.resize(eval_examples_);
}

void E2llmTrainTask::initialize() {
  // Adapter input statistics from the training contexts.
  std::vector<std::string> contexts;
  for (size_t i = 0; i < train_.size() && i < 256; ++i) contexts.push_back(train_[i].context);
  model_.calibrate(contexts);
}

std::vector<std::pair<std::string, torch::Tensor>> E2llmTrainTask::named_trainable() {
  return model_.named_trainable();
}

std::vector<std::pair<std::string, torch::Tensor>> E2llmTrainTask::named_frozen() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& [name, t] : model_.named_state())
    if (!t.requires_grad()) out.emplace_back(name, t);
  return out;
}

MicroBatchLoss E2llmTrainTask::micro_batch_loss(std::mt19937_64& rng) {
  const TrainExample& e = train_[rng() % train_.size()];
  E2llmModel::Losses l = model_.losses(e.context, e.prompt, e.answer, rng);
  MicroBatchLoss out;
  out.loss = l.reason;
  out.parts["reason"] = l.reason.item<double>();
  if (l.understand.defined()) {
    out.loss = out.loss + model_.config().alpha * l.understand;
    out.parts["understand"] = l.understand.item<double>();
  }
  out.tokens = l.tokens;
  return out;
}

std::map<std::string, double> E2llmTrainTask::evaluate() {
  if (eval_.empty()) return {};
  EvalSummary s = evaluate_exact_match(model_, eval_, eval_max_new_tokens_);
  return {{"exact_match", s.exact_match}};
}

bool E2llmTrainTask::parameter_active(const std::string& name, int64_t step) {
  return step >= model_.config().stage1_steps || !is_lora(name);
}

nlohmann::json E2llmTrainTask::config() const { return {{"model", model_.config().to_json()}}; }

std::vector<BaseModelIdentity> E2llmTrainTask::base_models() const { return model_.base_models(); }

}  // namespace e2llm
