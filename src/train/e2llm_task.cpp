#if __has_include("e2llm/encoder.h") && __has_include("e2llm/tokenizer.h")  // until encoder+tokenizer land
#include <cctype>
#include <fstream>

#include "e2llm/error.h"
#include "e2llm/fs.h"
#include "e2llm/train_e2llm.h"

namespace e2llm {
namespace {

std::string normalize_answer(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : s) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

bool is_lora(const std::string& name) { return name.find("_lora.") != std::string::npos; }

}  // namespace

std::vector<Example> read_examples_jsonl(const std::string& path) {
  std::ifstream in(path);
  E2LLM_CHECK(in.good(), "{}: cannot open the examples file", path);
  std::vector<Example> out;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}:{}: not valid JSON: {}", path, number, e.what());
    }
    for (const char* key : {"context", "prompt", "answer"})
      E2LLM_CHECK(j.contains(key) && j[key].is_string(), "{}:{}: \"{}\" must be a string", path, number, key);
    out.push_back({j["context"].get<std::string>(), j["prompt"].get<std::string>(), j["answer"].get<std::string>()});
  }
  E2LLM_CHECK(!out.empty(), "{}: no examples", path);
  return out;
}

void write_examples_jsonl(const std::string& path, const std::vector<Example>& examples) {
  std::string text;
  for (const Example& e : examples)
    text += nlohmann::json{{"context", e.context}, {"prompt", e.prompt}, {"answer", e.answer}}.dump() + "\n";
  write_file_atomic(path, text);
}

bool answers_match(const std::string& predicted, const std::string& expected) {
  return normalize_answer(predicted) == normalize_answer(expected);
}

EvalSummary evaluate_exact_match(E2llmModel& model, const std::vector<Example>& examples, int64_t max_new_tokens) {
  EvalSummary summary;
  int64_t hits = 0;
  for (const Example& e : examples) {
    hits += answers_match(model.generate(e.context, e.prompt, {max_new_tokens}), e.answer);
    ++summary.examples;
  }
  summary.exact_match = summary.examples ? static_cast<double>(hits) / static_cast<double>(summary.examples) : 0;
  return summary;
}

E2llmTrainTask::E2llmTrainTask(E2llmModel& model, std::vector<Example> train, std::vector<Example> eval,
                               int64_t eval_examples, int64_t eval_max_new_tokens)
    : model_(model),
      train_(std::move(train)),
      eval_(std::move(eval)),
      eval_examples_(eval_examples),
      eval_max_new_tokens_(eval_max_new_tokens) {
  E2LLM_CHECK(!train_.empty(), "training: no training examples");
  if (static_cast<int64_t>(eval_.size()) > eval_examples_) eval_.resize(eval_examples_);
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
  const Example& e = train_[rng() % train_.size()];
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
#endif
