// The training loop. Everything a resumed run needs to continue exactly
// (weights, AdamW moments and step counts, both RNGs, the step) goes into the
// checkpoint; the learning rate is a pure function of the step.
#include <c10/util/string_utils.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "e2llm/core/error.h"
#include "e2llm/train/trainer.h"
#include "progress.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;
using NamedParams = std::vector<std::pair<std::string, torch::Tensor>>;

std::string optimizer_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

std::unique_ptr<torch::optim::AdamW> make_optimizer(const NamedParams& params, const TrainOptions& o) {
  // Decoupled weight decay on matrices only; biases, norms and marker
  // vectors (1-D) are not decayed.
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  auto defaults = torch::optim::AdamWOptions(o.lr)
                      .betas(std::make_tuple(o.beta1, o.beta2))
                      .eps(o.eps)
                      .weight_decay(o.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(defaults));
  if (!no_decay.empty()) {
    auto options = std::make_unique<torch::optim::AdamWOptions>(defaults);
    options->weight_decay(0.0);
    groups.emplace_back(no_decay, std::move(options));
  }
  return std::make_unique<torch::optim::AdamW>(std::move(groups), defaults);
}

std::string rng_to_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

void rng_from_text(std::mt19937_64& rng, const std::string& text) {
  std::istringstream in(text);
  in >> rng;
  E2LLM_CHECK(!in.fail(), "checkpoint: data_rng_state is not a valid generator state");
}

nlohmann::json parts_json(const std::map<std::string, double>& parts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : parts) j[k] = v;
  return j;
}

}  // namespace

struct Trainer::State {
  TrainTask& task;
  TrainOptions options;
  NamedParams params;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::mt19937_64 data_rng;
  int64_t step = 0;
  std::string last_checkpoint;
  double last_loss = 0;
  std::map<std::string, double> last_eval;
  std::unique_ptr<std::ofstream> metrics;

  State(TrainTask& t, TrainOptions o) : task(t), options(std::move(o)) {}

  TrainingState export_state() const;
  void import_state(const TrainingState& s);
  void log_metrics(const nlohmann::json& line);
  std::string checkpoint_or_none() const { return last_checkpoint.empty() ? "none written yet" : last_checkpoint; }
};

TrainingState Trainer::State::export_state() const {
  TrainingState s;
  s.step = step;
  s.config = task.config();
  s.config["training"] = options.to_json();
  s.base_models = task.base_models();
  for (const auto& [name, p] : params) {
    s.trainable[name] = p.detach();
    auto it = optimizer->state().find(optimizer_key(p));
    if (it == optimizer->state().end()) continue;
    const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    s.optimizer[name + ".exp_avg"] = st.exp_avg();
    s.optimizer[name + ".exp_avg_sq"] = st.exp_avg_sq();
    s.optimizer_steps[name] = st.step();
  }
  for (const auto& [name, t] : task.named_frozen()) s.trainable[name] = t.detach();
  s.torch_rng_state = torch::globalContext().defaultGenerator(torch::kCPU).get_state();
  s.data_rng_state = rng_to_text(data_rng);
  s.extra = {{"last_loss", last_loss}, {"last_eval", parts_json(last_eval)}};
  return s;
}

void Trainer::State::import_state(const TrainingState& s) {
  check_base_models(s.base_models, task.base_models());
  NamedParams everything = params;
  for (auto& named : task.named_frozen()) everything.push_back(std::move(named));
  copy_named_tensors(everything, s.trainable, "checkpoint");
  for (const auto& [name, p] : params) {
    auto steps = s.optimizer_steps.find(name);
    if (steps == s.optimizer_steps.end()) continue;
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(steps->second);
    for (const char* moment : {".exp_avg", ".exp_avg_sq"}) {
      auto m = s.optimizer.find(name + moment);
      E2LLM_CHECK(m != s.optimizer.end() && m->second.sizes() == p.sizes(),
                  "checkpoint optimizer state '{}{}' is missing or misshapen", name, moment);
    }
    state->exp_avg(s.optimizer.at(name + ".exp_avg").to(p.options()).clone());
    state->exp_avg_sq(s.optimizer.at(name + ".exp_avg_sq").to(p.options()).clone());
    optimizer->state()[optimizer_key(p)] = std::move(state);
  }
  if (s.torch_rng_state.defined()) {
    at::Generator generator = torch::globalContext().defaultGenerator(torch::kCPU);  // a shared handle
    generator.set_state(s.torch_rng_state);
  }
  rng_from_text(data_rng, s.data_rng_state);
  step = s.step;
  last_loss = s.extra.value("last_loss", 0.0);
}

void Trainer::State::log_metrics(const nlohmann::json& line) {
  if (!metrics) return;
  *metrics << line.dump() << '\n';
  metrics->flush();
}

Trainer::Trainer(TrainTask& task, TrainOptions options) : state_(std::make_unique<State>(task, std::move(options))) {
  State& s = *state_;
  s.params = task.named_trainable();
  E2LLM_CHECK(!s.params.empty(), "training: the task has no trainable parameters");
  for (const auto& [name, p] : s.params)
    E2LLM_CHECK(p.requires_grad(), "training: parameter '{}' does not require grad", name);
  if (!s.options.resume) task.initialize();
  torch::manual_seed(s.options.seed);
  s.data_rng.seed(s.options.seed);
  s.optimizer = make_optimizer(s.params, s.options);
  if (s.options.resume) {
    E2LLM_CHECK(!s.options.output_dir.empty(), "training: --resume needs an output_dir");
    std::string latest = latest_checkpoint(s.options.output_dir);
    E2LLM_CHECK(!latest.empty(), "training: nothing to resume in {} (no 'latest' checkpoint)", s.options.output_dir);
    s.import_state(load_checkpoint(latest));
    s.last_checkpoint = latest;
  }
  if (!s.options.metrics_log.empty()) {
    // The log usually lives in output_dir, which a first run has not made yet.
    const std::filesystem::path parent = std::filesystem::path(s.options.metrics_log).parent_path();
    std::error_code ignored;
    if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
    s.metrics = std::make_unique<std::ofstream>(s.options.metrics_log, std::ios::app);
    E2LLM_CHECK(s.metrics->good(), "{}: cannot open the metrics log for writing", s.options.metrics_log);
  }
}

Trainer::~Trainer() = default;

int64_t Trainer::step() const { return state_->step; }

std::string Trainer::save_checkpoint() {
  State& s = *state_;
  E2LLM_CHECK(!s.options.output_dir.empty(), "training: no output_dir to save a checkpoint in");
  s.last_checkpoint = e2llm::save_checkpoint(s.options.output_dir, s.export_state(), s.options.keep_checkpoints);
  return s.last_checkpoint;
}

TrainResult Trainer::run() {
  State& s = *state_;
  const TrainOptions& o = s.options;
  train::ProgressLine progress(o.progress, o.log_every);
  const auto start = Clock::now();
  const int64_t first_step = s.step;
  int64_t tokens = 0;
  bool stopped_by_time = false;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  int64_t saved_at = -1;

  while (s.step < o.max_steps) {
    if (o.max_time_s > 0 && elapsed() >= o.max_time_s) {
      stopped_by_time = true;
      progress.message(fmt::format("stopping at step {}: --max-time {}s reached", s.step, o.max_time_s));
      break;
    }
    const double lr = learning_rate_at(o, s.step);
    for (auto& group : s.optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    for (auto& [name, p] : s.params) p.mutable_grad() = torch::Tensor();

    double loss_sum = 0;
    std::map<std::string, double> parts;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      MicroBatchLoss mb = s.task.micro_batch_loss(s.data_rng);
      const double value = mb.loss.item<double>();
      E2LLM_CHECK(std::isfinite(value),
                  "training stopped: loss is {} at step {} (micro-batch {}, parts {}); weights were not updated; "
                  "last good checkpoint: {}",
                  value, s.step, micro, parts_json(mb.parts).dump(), s.checkpoint_or_none());
      (mb.loss / static_cast<double>(o.grad_accum)).backward();
      loss_sum += value;
      for (const auto& [k, v] : mb.parts) parts[k] += v / static_cast<double>(o.grad_accum);
      tokens += mb.tokens;
    }
    std::vector<torch::Tensor> with_grad;
    for (auto& [name, p] : s.params) {
      if (!s.task.parameter_active(name, s.step)) p.mutable_grad() = torch::Tensor();
      if (p.grad().defined()) with_grad.push_back(p);
    }
    const double norm = with_grad.empty() ? 0.0
                        : o.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(with_grad, o.max_grad_norm)
                                              : torch::nn::utils::clip_grad_norm_(with_grad, INFINITY);
    E2LLM_CHECK(std::isfinite(norm),
                "training stopped: gradient norm is {} at step {}; weights were not updated; last good checkpoint: {}",
                norm, s.step, s.checkpoint_or_none());
    s.optimizer->step();
    ++s.step;
    s.last_loss = loss_sum / static_cast<double>(o.grad_accum);

    const double secs = elapsed();
    const double per_step = secs / static_cast<double>(s.step - first_step);
    train::ProgressSnapshot snap{s.step, o.max_steps, s.last_loss, parts, lr, tokens / std::max(secs, 1e-9),
                                 per_step * static_cast<double>(o.max_steps - s.step)};
    progress.update(snap);
    s.log_metrics({{"step", s.step}, {"loss", s.last_loss}, {"parts", parts_json(parts)}, {"lr", lr},
                   {"grad_norm", norm}, {"tokens_per_s", snap.tokens_per_s}, {"elapsed_s", secs}});

    if (o.eval_every > 0 && s.step % o.eval_every == 0) {
      torch::NoGradGuard no_grad;
      s.last_eval = s.task.evaluate();
      progress.message(fmt::format("eval at step {}: {}", s.step, parts_json(s.last_eval).dump()));
      s.log_metrics({{"step", s.step}, {"eval", parts_json(s.last_eval)}});
    }
    if (!o.output_dir.empty() && o.checkpoint_every > 0 && s.step % o.checkpoint_every == 0) {
      save_checkpoint();
      saved_at = s.step;
    }
  }
  if (!o.output_dir.empty() && saved_at != s.step && s.step > first_step) save_checkpoint();
  return {s.step, stopped_by_time, s.last_loss, s.last_eval, s.last_checkpoint};
}

}  // namespace e2llm
