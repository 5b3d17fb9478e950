// TrainOptions <-> JSON ("training" section of a config file), read with the
// checked readers, and the learning-rate schedule. Torch-free (see train_options.h).
#include "e2llm/train/train_options.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_field_table.h"

namespace e2llm {
namespace {

// One table drives both directions, so a new option cannot be forgotten in one.
constexpr auto kFields = [](TrainOptions& o, auto&& visit) {
  visit("max_steps", o.max_steps);
  visit("max_time_s", o.max_time_s);
  visit("lr", o.lr);
  visit("min_lr_ratio", o.min_lr_ratio);
  visit("warmup_steps", o.warmup_steps);
  visit("weight_decay", o.weight_decay);
  visit("beta1", o.beta1);
  visit("beta2", o.beta2);
  visit("eps", o.eps);
  visit("grad_accum", o.grad_accum);
  visit("micro_batches_per_pass", o.micro_batches_per_pass);
  visit("max_grad_norm", o.max_grad_norm);
  visit("seed", o.seed);
  visit("output_dir", o.output_dir);
  visit("checkpoint_every", o.checkpoint_every);
  visit("keep_checkpoints", o.keep_checkpoints);
  visit("eval_every", o.eval_every);
  visit("metrics_log", o.metrics_log);
  visit("log_every", o.log_every);
  visit("progress", o.progress);
  visit("resume", o.resume);
  visit("init_from", o.init_from);
};

// `at` is "<file>: " or "".
void validate(const TrainOptions& o, const std::string& at) {
  E2LLM_CHECK(o.max_steps >= 1, "{}training.max_steps must be >= 1, got {}", at, o.max_steps);
  E2LLM_CHECK(o.lr > 0 && std::isfinite(o.lr), "{}training.lr must be positive, got {}", at, o.lr);
  E2LLM_CHECK(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, "{}training.min_lr_ratio must be in [0, 1], got {}", at,
              o.min_lr_ratio);
  E2LLM_CHECK(o.warmup_steps >= 0, "{}training.warmup_steps must be >= 0, got {}", at, o.warmup_steps);
  E2LLM_CHECK(o.grad_accum >= 1, "{}training.grad_accum must be >= 1, got {}", at, o.grad_accum);
  E2LLM_CHECK(o.micro_batches_per_pass >= 1, "{}training.micro_batches_per_pass must be >= 1, got {}", at,
              o.micro_batches_per_pass);
  E2LLM_CHECK(o.weight_decay >= 0, "{}training.weight_decay must be >= 0, got {}", at, o.weight_decay);
  E2LLM_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
              "{}training.beta1/beta2 must be in [0, 1), got {} / {}", at, o.beta1, o.beta2);
  E2LLM_CHECK(o.keep_checkpoints >= 1, "{}training.keep_checkpoints must be >= 1, got {}", at, o.keep_checkpoints);
}

}  // namespace

TrainOptions TrainOptions::from_json(const nlohmann::json& j, const std::string& source) {
  TrainOptions o;
  const json_fields::Where where(source, "training");
  json_fields::read_fields(j, o, kFields, where);
  validate(o, where.prefix());
  return o;
}

nlohmann::json TrainOptions::to_json() const { return json_fields::write_fields(*this, kFields); }

double learning_rate_at(const TrainOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, o.max_steps - o.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + (o.lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace e2llm
