// TrainOptions: the "training" section of a training config (optimizer,
// schedule, limits, checkpoints, logs) and the learning-rate schedule.
// Torch-free, so that its JSON reader is fuzzed (fuzz/fuzz_e2llm_config.cpp).
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

namespace e2llm {

struct TrainOptions {
  int64_t max_steps = 1000;   // optimizer steps
  double max_time_s = 0;      // stop (with a checkpoint) after this long; 0 = no limit
  double lr = 1e-4;
  double min_lr_ratio = 0.1;  // the cosine ends at lr * min_lr_ratio
  int64_t warmup_steps = 0;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t grad_accum = 1;     // micro-batches per optimizer step
  // Up to this many of a process's micro-batches go through the model in one
  // pass (TrainTask::micro_batch_losses): the same losses and gradients, in
  // fewer, larger matrix products; more activation memory at once.
  int64_t micro_batches_per_pass = 1;
  double max_grad_norm = 1.0; // <= 0: no clipping
  uint64_t seed = 42;
  std::string output_dir;     // checkpoints go here; "" = none
  int64_t checkpoint_every = 0;  // steps; 0 = only at the end
  int keep_checkpoints = 2;
  int64_t eval_every = 0;     // steps; 0 = never
  std::string metrics_log;    // JSONL file; "" = none
  int64_t log_every = 10;     // progress lines when stderr is not a terminal
  bool progress = true;
  bool resume = false;        // continue from output_dir's latest checkpoint
  // Start from the trained tensors of this checkpoint (a run folder, one step
  // folder, or an `e2llm export` model) at step 0 with a fresh optimizer:
  // fine-tuning, or the next stage of a curriculum. Ignored when resuming.
  std::string init_from;

  // `j` is the "training" section of a config; `source` (its file) prefixes
  // error messages. Unknown keys are errors.
  static TrainOptions from_json(const nlohmann::json& j, const std::string& source = "");
  nlohmann::json to_json() const;
};

// Learning rate at optimizer step `step` (0-based).
double learning_rate_at(const TrainOptions& options, int64_t step);

}  // namespace e2llm
