// Model-agnostic training loop: AdamW (decoupled weight decay, none on
// 1-D parameters), linear warm-up + cosine learning rate, gradient
// accumulation and clipping, a NaN/inf guard, time and step limits, a progress
// line, a JSONL metrics log, periodic evaluation, and checkpoints from which
// --resume continues bit-identically.
//
// What is trained is a TrainTask: it names its trainable parameters and
// computes the loss of one micro-batch, drawing its examples with the RNG the
// trainer hands it. That RNG, and torch's (dropout), are seeded from the seed,
// the optimizer step and the micro-batch's index in the step, so the data
// order is a function of the step: a resumed run, or one with another number
// of processes, sees the same examples. Several micro-batches may share one
// pass through the model (micro_batches_per_pass); torch's RNG is then seeded
// from the first of them.
//
// Data-parallel training (e2llm/train/distributed.h): with a ProcessGroup of
// W ranks, the grad_accum micro-batches of a step are shared out (rank r takes
// r, r + W, ...), gradients are summed over the ranks before clipping, and
// every rank takes the same optimizer step. Rank 0 alone initializes or
// resumes (then broadcasts weights, optimizer state and step), evaluates,
// writes checkpoints, metrics and progress.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <atomic>
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
  // Several micro-batches, one RNG each, in one pass through the model where
  // the task can batch them (training.micro_batches_per_pass): each loss is
  // what micro_batch_loss would give for its RNG, up to float rounding. This
  // default runs them one after another.
  virtual std::vector<MicroBatchLoss> micro_batch_losses(std::vector<std::mt19937_64>& data_rngs);
  // The names of MicroBatchLoss::parts that the logs report, in a fixed
  // order (summed over ranks in that order); other parts are an error.
  virtual std::vector<std::string> loss_parts() const { return {}; }
  // What the data is (e.g. example count and ids), to check that every rank
  // of a distributed job reads the same.
  virtual std::string data_identity() const { return ""; }
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
  bool stopped_on_request = false;  // the stop flag was set (e.g. Ctrl-C)
  double last_loss = 0;
  std::map<std::string, double> last_eval;
  std::string last_checkpoint;  // "" when none was written
};

class ProcessGroup;

// Refuses a fresh run (not options.resume) into an output_dir that already
// holds one: it would write its steps over the old run's and prune the rest.
void refuse_overwriting_a_run(const TrainOptions& options);

class Trainer {
 public:
  // With options.resume restores the latest checkpoint. `group` (optional,
  // must outlive the trainer) makes it one rank of a data-parallel job; the
  // ranks must agree on the task's config, data and the training options
  // (checked here), and options.grad_accum must be at least the world size.
  Trainer(TrainTask& task, TrainOptions options, ProcessGroup* group = nullptr);
  ~Trainer();
  // Trains to max_steps / max_time (rank 0's clock decides). A NaN or
  // infinite loss or gradient, on any rank, throws e2llm::Error on every rank
  // before any weight changes; the last checkpoint stays intact.
  TrainResult run();
  // Once `flag` is set (a signal handler may set it: the atomic is lock-free),
  // run() stops after the step in progress, with a checkpoint, as at the time
  // limit. Rank 0's flag decides for every rank. `flag` must outlive run().
  void set_stop_flag(const std::atomic<bool>& flag);
  std::string save_checkpoint();
  int64_t step() const;

 private:
  TrainResult train();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace e2llm
