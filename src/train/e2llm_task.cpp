// E2LLM as a training task: the two-task loss, calibration, the staged schedule.
#include "e2llm/train/e2llm_task.h"

#include <algorithm>

#include "e2llm/core/error.h"
#include "e2llm/eval/metrics.h"

namespace e2llm {
namespace {

bool is_lora(const std::string& name) { return name.find("_lora.") != std::string::npos; }

// Hidden states of the positions that predict a target (labels[t + 1] set),
// through the LM head, against those targets: causal_lm_loss without
// computing logits for every position.
torch::Tensor target_loss(CausalLMImpl& lm, const torch::Tensor& hidden, const torch::Tensor& labels, int64_t row) {
  torch::Tensor next = labels[row].slice(0, 1);
  torch::Tensor where = (next != -100).nonzero().squeeze(1);
  if (where.numel() == 0) return {};
  torch::Tensor h = hidden[row].index_select(0, where);
  torch::Tensor logits = lm.logits(h.unsqueeze(0)).squeeze(0).to(torch::kFloat32);
  return torch::nn::functional::cross_entropy(logits, next.index_select(0, where));
}

int64_t row_length(const std::vector<Segment>& row) {
  int64_t n = 0;
  for (const Segment& s : row) n += s.size();
  return n;
}

// The rows (by index) in decoder batches that are not padded far beyond their
// own length: longest first, a row joins the current batch while it is at
// least half as long as the batch's first. A restating row (~150 tokens)
// padded to a reasoning row over a long document (~2,000) would double the work.
std::vector<std::vector<size_t>> similar_length_batches(const std::vector<std::vector<Segment>>& rows) {
  std::vector<size_t> order(rows.size());
  std::vector<int64_t> length(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) order[i] = i, length[i] = row_length(rows[i]);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return length[a] > length[b]; });
  std::vector<std::vector<size_t>> batches;
  for (size_t i : order) {
    if (batches.empty() || 2 * length[i] < length[batches.back().front()]) batches.emplace_back();
    batches.back().push_back(i);
  }
  return batches;
}

}  // namespace

E2llmLosses e2llm_losses(E2llmModel& model, const std::string& context, const std::string& prompt,
                         const std::string& answer, std::mt19937_64& rng) {
  return e2llm_losses(model, {LossExample{context, prompt, answer, rng}}).front();
}

std::vector<E2llmLosses> e2llm_losses(E2llmModel& model, const std::vector<LossExample>& examples) {
  const E2llmConfig& config = model.config();
  std::vector<ChunkedContext> chunked;
  for (const LossExample& e : examples) chunked.push_back(model.chunk_context(e.context));
  const std::vector<torch::Tensor> soft = model.encode_contexts(chunked);
  // The decoder batch: every example's reasoning row, then its restating row when alpha > 0.
  std::vector<std::vector<Segment>> rows;
  std::vector<int64_t> restate_row(examples.size(), -1);
  for (size_t i = 0; i < examples.size(); ++i)
    rows.push_back(model.assemble(soft[i], examples[i].prompt, model.answer_ids(examples[i].answer)));
  if (config.alpha > 0) {
    for (size_t i = 0; i < examples.size(); ++i) {
      const int64_t n = static_cast<int64_t>(chunked[i].chunks.size());
      const int64_t k = soft[i].size(0) / n;
      const int64_t first = static_cast<int64_t>(examples[i].rng() % static_cast<uint64_t>(n));
      const int64_t count = std::min(config.understand_chunks, n - first);
      const Chunk& a = chunked[i].chunks[first];
      const Chunk& b = chunked[i].chunks[first + count - 1];
      const std::string& context = examples[i].context;
      std::vector<int64_t> target =
          model.answer_ids(context.substr(a.begin, b.end - a.begin), config.max_restate_tokens);
      restate_row[i] = static_cast<int64_t>(rows.size());
      rows.push_back(model.assemble(soft[i].narrow(0, first * k, count * k), config.restate_instruction, target));
    }
  }
  // Each row's loss and length, from the decoder batch it went through.
  CausalLMImpl& decoder = model.decoder();
  std::vector<torch::Tensor> row_loss(rows.size());
  std::vector<int64_t> row_tokens(rows.size());
  for (const std::vector<size_t>& batch : similar_length_batches(rows)) {
    std::vector<std::vector<Segment>> batch_rows;
    for (size_t r : batch) batch_rows.push_back(std::move(rows[r]));
    AssembledBatch assembled = decoder.assemble(batch_rows, Padding::Right);
    torch::Tensor hidden = decoder.hidden_states(assembled.embeddings, assembled.attention_mask, assembled.positions);
    for (size_t j = 0; j < batch.size(); ++j) {
      row_loss[batch[j]] = target_loss(decoder, hidden, assembled.labels, static_cast<int64_t>(j));
      row_tokens[batch[j]] = assembled.lengths[j];
    }
  }
  std::vector<E2llmLosses> out(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    out[i].reason = row_loss[i];
    out[i].tokens = chunked[i].context_tokens + row_tokens[i];
    if (restate_row[i] < 0) continue;
    out[i].understand = row_loss[static_cast<size_t>(restate_row[i])];
    out[i].tokens += row_tokens[static_cast<size_t>(restate_row[i])];
  }
  return out;
}

bool answers_match(const std::string& predicted, const std::string& expected) {
  return squad_normalize(predicted) == squad_normalize(expected);
}

EvalSummary evaluate_exact_match(E2llmModel& model, const std::vector<Example>& examples, int64_t max_new_tokens) {
  EvalSummary summary;
  int64_t hits = 0;
  for (const Example& e : examples) {
    const std::string predicted = model.generate(e.context, e.prompt, {max_new_tokens});
    hits += std::any_of(e.answers.begin(), e.answers.end(),
                        [&](const std::string& answer) { return answers_match(predicted, answer); });
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
  for (const Example& e : train_)
    E2LLM_CHECK(!e.answers.empty(), "training: example '{}' has no answer to train on", e.id);
  if (static_cast<int64_t>(eval_.size()) > eval_examples_) eval_.resize(eval_examples_);
}

void E2llmTrainTask::check_eval_fits() const {
  for (const Example& e : eval_) {
    const std::string why = model_.window_overflow(model_.chunk_context(e.context), e.prompt);
    E2LLM_CHECK(why.empty(), "training: eval example '{}': {}", e.id, why);
  }
}

void E2llmTrainTask::initialize() {
  // Adapter input statistics from the training contexts.
  std::vector<std::string> contexts;
  const auto most = static_cast<size_t>(model_.config().calibration_chunks);  // each context gives >= 1 chunk
  for (size_t i = 0; i < train_.size() && i < most; ++i) contexts.push_back(train_[i].context);
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
  std::vector<std::mt19937_64> one{rng};
  return micro_batch_losses(one).front();
}

std::vector<MicroBatchLoss> E2llmTrainTask::micro_batch_losses(std::vector<std::mt19937_64>& rngs) {
  std::vector<LossExample> batch;
  for (std::mt19937_64& rng : rngs) {
    const Example& e = train_[rng() % train_.size()];
    batch.push_back({e.context, e.prompt, e.answers.front(), rng});
  }
  std::vector<MicroBatchLoss> out;
  for (const E2llmLosses& l : e2llm_losses(model_, batch)) {
    MicroBatchLoss mb;
    mb.loss = l.reason;
    mb.parts["reason"] = l.reason.item<double>();
    if (l.understand.defined()) {
      mb.loss = mb.loss + model_.config().alpha * l.understand;
      mb.parts["understand"] = l.understand.item<double>();
    }
    mb.tokens = l.tokens;
    out.push_back(std::move(mb));
  }
  return out;
}

std::vector<std::string> E2llmTrainTask::loss_parts() const {
  if (model_.config().alpha > 0) return {"reason", "understand"};
  return {"reason"};
}

std::string E2llmTrainTask::data_identity() const {
  std::string ids = fmt::format("train {}:", train_.size());
  for (const Example& e : train_) ids += fmt::format("{} {}\n", e.id, e.context.size());
  ids += fmt::format("eval {}:", eval_.size());
  for (const Example& e : eval_) ids += fmt::format("{} {}\n", e.id, e.context.size());
  return ids;
}

std::map<std::string, double> E2llmTrainTask::evaluate() {
  if (eval_.empty()) return {};
  EvalSummary s = evaluate_exact_match(model_, eval_, eval_max_new_tokens_);
  return {{"exact_match", s.exact_match}};
}

bool E2llmTrainTask::parameter_active(const std::string& name, int64_t step) {
  return step >= model_.config().stage1_steps || !is_lora(name);
}

// Where it ran is not what was trained (and differs between the ranks of a job).
nlohmann::json E2llmTrainTask::config() const { return {{"model", model_.config().model_json()}}; }

std::vector<BaseModelIdentity> E2llmTrainTask::base_models() const { return model_.base_models(); }

}  // namespace e2llm
