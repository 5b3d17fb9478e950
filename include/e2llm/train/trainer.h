// Model-agnostic training loop: AdamW (decoupled weight decay, none on
// 1-D parameters), linear warm-up + cosine learning rate, gradient
// accumulation and clipping, a NaN/inf guard, time and step limits, a progress
// line, a JSONL metrics log, periodic evaluation, and checkpoints from which
// --resume continues bit-identically.
//
// What is trained is a TrainTask: it names its trainable parameters and
// computes the loss of one micro-batch, drawing its examples with the RNG the
// trainer hands it (that RNG is checkpointed, so a resumed run sees the same
// data order).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "e2llm/io/checkpoint.h"
#include "e2llm/train/train_options.h"

namespace e2llm {

// One micro-batch's loss. `loss` is what backward() runs on; `parts` are the
// per-task values for logs (e.g. {"reason": 1.2, "understand": 0.8}).
struct MicroBatchLoss {
  torch::Tensor loss;
  std::map<std::string, double> parts;
  int64_t tokens = 0;  // tokens processed, for tokens/s
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  // Stable names (checkpoint keys) and the parameters; requires_grad = true.
  virtual std::vector<std::pair<std::string, torch::Tensor>> named_trainable() = 0;
  virtual MicroBatchLoss micro_batch_loss(std::mt19937_64& data_rng) = 0;
  // Held-out metrics, called every eval_every steps (no gradients).
  virtual std::map<std::string, double> evaluate() { return {}; }
  // Data-dependent set-up before the first step of a fresh run (e.g. input
  // statistics). Not called on --resume: the checkpoint holds its result.
  virtual void initialize() {}
  // Staged schedules: parameters not active at `step` are left untouched.
  virtual bool parameter_active(const std::string& name, int64_t step) { return true; }
  // Tensors that do not train but belong in the checkpoint all the same
  // (e.g. a frozen adapter), by name; restored on resume.
  virtual std::vector<std::pair<std::string, torch::Tensor>> named_frozen() { return {}; }
  virtual nlohmann::json config() const { return nlohmann::json::object(); }
  virtual std::vector<BaseModelIdentity> base_models() const { return {}; }
};

struct TrainResult {
  int64_t steps = 0;           // total optimizer steps (including resumed ones)
  bool stopped_by_time = false;
  double last_loss = 0;
  std::map<std::string, double> last_eval;
  std::string last_checkpoint;  // "" when none was written
};

class Trainer {
 public:
  // Seeds torch's CPU generator and the data RNG from options.seed; with
  // options.resume restores everything from the latest checkpoint instead.
  Trainer(TrainTask& task, TrainOptions options);
  ~Trainer();
  // Trains to max_steps / max_time. A NaN or infinite loss or gradient throws
  // e2llm::Error before any weight changes; the last checkpoint stays intact.
  TrainResult run();
  std::string save_checkpoint();
  int64_t step() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace e2llm
