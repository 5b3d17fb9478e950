// The training loop. Everything a resumed run needs to continue exactly
// (weights, AdamW moments and step counts, the step) goes into the
// checkpoint; the learning rate and the random numbers of each micro-batch
// are pure functions of the step.
#include <c10/util/string_utils.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <spdlog/spdlog.h>

#include "e2llm/core/error.h"
#include "e2llm/train/distributed.h"
#include "e2llm/train/trainer.h"
#include "progress.h"

namespace e2llm {
namespace {

using Clock = std::chrono::steady_clock;
using NamedParams = std::vector<std::pair<std::string, torch::Tensor>>;

// The key of a parameter in the optimizer's state map, as the optimizer
// computes it: LibTorch 1.x (Debian's) keys it by the parameter's TensorImpl
// printed as a string, LibTorch 2 by the TensorImpl pointer itself.
#if TORCH_VERSION_MAJOR >= 2
void* optimizer_key(const torch::Tensor& p) { return p.unsafeGetTensorImpl(); }
#else
std::string optimizer_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
#endif

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

// The RNG of micro-batch `micro` of optimizer step `step`: what it draws does
// not depend on which rank runs it or on what ran before.
std::mt19937_64 micro_batch_rng(uint64_t seed, int64_t step, int64_t micro) {
  auto low = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto high = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  const auto s = static_cast<uint64_t>(step), m = static_cast<uint64_t>(micro);
  std::seed_seq sequence{low(seed), high(seed), low(s), high(s), low(m), high(m)};
  return std::mt19937_64(sequence);
}

nlohmann::json parts_json(const std::map<std::string, double>& parts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : parts) j[k] = v;
  return j;
}

// One step's micro-batches as this rank ran them, then summed over ranks.
// Layout of the summed tensor: [loss of each rank] [first non-finite
// micro-batch of each rank + 1, or 0] [tokens] [each named loss part].
struct StepTotals {
  torch::Tensor values;
  int world_size = 1;

  StepTotals(int world, int parts) : values(torch::zeros({2 * world + 1 + parts})), world_size(world) {}
  float* data() { return values.data_ptr<float>(); }
  float& loss(int rank) { return data()[rank]; }
  float& bad_micro(int rank) { return data()[world_size + rank]; }
  float& tokens() { return data()[2 * world_size]; }
  float& part(size_t i) { return data()[2 * world_size + 1 + static_cast<int64_t>(i)]; }
};

// "x.lora_A.weight" -> "x.lora_B.weight" and back; "" for any other name.
std::string lora_partner(const std::string& name) {
  for (auto [mine, other] : {std::pair{".lora_A.weight", ".lora_B.weight"}, {".lora_B.weight", ".lora_A.weight"}}) {
    const std::string_view suffix = mine;
    if (name.ends_with(suffix)) return name.substr(0, name.size() - suffix.size()) + other;
  }
  return "";
}

// The LoRA layers a run adds to those of the checkpoint it starts from (more
// decoder_lora_targets): both factors absent from the source. They keep their
// fresh init (B = 0), so the model starts as the same function as the source.
// Everything else must match, as copy_named_tensors checks.
NamedParams without_added_lora(NamedParams named, const std::map<std::string, torch::Tensor>& source) {
  auto added = [&](const auto& n) {
    const std::string partner = lora_partner(n.first);
    return !partner.empty() && !source.count(n.first) && !source.count(partner);
  };
  const auto count = std::count_if(named.begin(), named.end(), added);
  if (count > 0) spdlog::info("training: {} LoRA factors are new (not in the source); they start as the identity", count);
  named.erase(std::remove_if(named.begin(), named.end(), added), named.end());
  return named;
}

}  // namespace

std::vector<MicroBatchLoss> TrainTask::micro_batch_losses(std::vector<std::mt19937_64>& data_rngs) {
  std::vector<MicroBatchLoss> out;
  for (std::mt19937_64& rng : data_rngs) out.push_back(micro_batch_loss(rng));
  return out;
}

struct Trainer::State {
  TrainTask& task;
  TrainOptions options;
  ProcessGroup* group;  // null: a single process
  NamedParams params;
  std::vector<std::string> part_names;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t step = 0;
  std::string last_checkpoint;
  double last_loss = 0;
  std::map<std::string, double> last_eval;
  std::unique_ptr<std::ofstream> metrics;
  const std::atomic<bool>* stop_flag = nullptr;

  State(TrainTask& t, TrainOptions o, ProcessGroup* g) : task(t), options(std::move(o)), group(g) {}

  int rank() const { return group ? group->rank() : 0; }
  int world_size() const { return group ? group->world_size() : 1; }
  bool leader() const { return rank() == 0; }
  bool distributed() const { return world_size() > 1; }

  TrainingState export_state() const;
  // The trained and frozen tensors of `s` (base models checked); `what` names it in errors.
  void import_tensors(const TrainingState& s, const std::string& what, bool may_add_lora = false);
  void import_state(const TrainingState& s);
  void check_ranks_agree();
  void copy_state_from_leader();
  void run_micro_batches(StepTotals& totals);
  std::vector<torch::Tensor> reduce_gradients();
  bool leader_decides(bool decision);
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
  s.extra = {{"last_loss", last_loss}, {"last_eval", parts_json(last_eval)}};
  return s;
}

void Trainer::State::import_tensors(const TrainingState& s, const std::string& what, bool may_add_lora) {
  check_base_models(s.base_models, task.base_models());
  NamedParams everything = params;
  for (auto& named : task.named_frozen()) everything.push_back(std::move(named));
  if (may_add_lora) everything = without_added_lora(std::move(everything), s.trainable);
  copy_named_tensors(everything, s.trainable, what);
}

void Trainer::State::import_state(const TrainingState& s) {
  import_tensors(s, "checkpoint");
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
  step = s.step;
  last_loss = s.extra.value("last_loss", 0.0);
}

// Every rank must train the same thing, or the all-reduced gradients would
// mix different models. Output paths, progress and the time limit may differ
// (rank 0's count).
void Trainer::State::check_ranks_agree() {
  nlohmann::json training = options.to_json();
  for (const char* local : {"output_dir", "metrics_log", "progress", "log_every", "max_time_s", "resume"})
    training.erase(local);
  group->check_same("the training options", training.dump());
  group->check_same("the model config", task.config().dump());
  group->check_same("the training data", task.data_identity());
  std::string shapes;
  for (const auto& [name, p] : params) shapes += name + c10::str(p.sizes()) + ";";
  group->check_same("the trainable parameters", shapes);
}

// Rank 0 initialized or resumed; the others take its weights, frozen state,
// optimizer moments and step.
void Trainer::State::copy_state_from_leader() {
  // Header: the step, then each parameter's AdamW step count (-1: none).
  torch::Tensor header = torch::full({static_cast<int64_t>(params.size()) + 1}, -1.0);
  header[0] = static_cast<double>(step);
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = optimizer->state().find(optimizer_key(params[i].second));
    if (it != optimizer->state().end())
      header[static_cast<int64_t>(i) + 1] =
          static_cast<double>(static_cast<const torch::optim::AdamWParamState&>(*it->second).step());
  }
  group->broadcast({header});
  step = static_cast<int64_t>(header[0].item<double>());

  std::vector<torch::Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  for (const auto& [name, t] : task.named_frozen()) tensors.push_back(t);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto adam_steps = static_cast<int64_t>(header[static_cast<int64_t>(i) + 1].item<double>());
    if (adam_steps < 0) continue;
    const torch::Tensor& p = params[i].second;
    auto& slot = optimizer->state()[optimizer_key(p)];
    if (!slot) {
      auto state = std::make_unique<torch::optim::AdamWParamState>();
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(state);
    }
    auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
    state.step(adam_steps);
    tensors.push_back(state.exp_avg());
    tensors.push_back(state.exp_avg_sq());
  }
  group->broadcast(tensors);
}

// The parameters that take this step's optimizer update, their gradients
// summed over the ranks. One without a gradient on every rank (unused, or
// inactive at this step) gets none, and AdamW leaves it alone.
std::vector<torch::Tensor> Trainer::State::reduce_gradients() {
  for (auto& [name, p] : params)
    if (!task.parameter_active(name, step)) p.mutable_grad() = torch::Tensor();
  if (distributed()) {
    torch::Tensor has_grad = torch::zeros({static_cast<int64_t>(params.size())});
    std::vector<torch::Tensor> summed{has_grad};
    for (size_t i = 0; i < params.size(); ++i) {
      torch::Tensor& p = params[i].second;
      if (p.grad().defined())
        has_grad[static_cast<int64_t>(i)] = 1.0;
      else
        p.mutable_grad() = torch::zeros_like(p);
      summed.push_back(p.grad());
    }
    group->all_reduce_sum(summed);
    for (size_t i = 0; i < params.size(); ++i)
      if (has_grad[static_cast<int64_t>(i)].item<float>() == 0) params[i].second.mutable_grad() = torch::Tensor();
  }
  std::vector<torch::Tensor> with_grad;
  for (auto& [name, p] : params)
    if (p.grad().defined()) with_grad.push_back(p);
  return with_grad;
}

// This rank's share of the step's micro-batches, micro_batches_per_pass at a
// time: losses into `totals`, gradients accumulated. A non-finite loss skips
// its backward; every rank learns of it from the totals and stops.
void Trainer::State::run_micro_batches(StepTotals& totals) {
  const TrainOptions& o = options;
  const auto micro_batches = static_cast<double>(o.grad_accum);
  std::vector<int64_t> mine;
  for (int64_t micro = rank(); micro < o.grad_accum; micro += world_size()) mine.push_back(micro);
  const auto per_pass = static_cast<size_t>(o.micro_batches_per_pass);
  for (size_t first = 0; first < mine.size() && totals.bad_micro(rank()) == 0; first += per_pass) {
    const size_t count = std::min(mine.size() - first, per_pass);
    std::vector<std::mt19937_64> rngs;
    for (size_t i = 0; i < count; ++i) {
      rngs.push_back(micro_batch_rng(o.seed, step, mine[first + i]));
      const uint64_t torch_seed = rngs.back()();
      if (i == 0) torch::manual_seed(torch_seed);
    }
    const std::vector<MicroBatchLoss> losses = task.micro_batch_losses(rngs);
    E2LLM_CHECK(losses.size() == count, "training: the task returned {} losses for {} micro-batches", losses.size(),
                count);
    torch::Tensor pass_loss;
    for (size_t i = 0; i < count; ++i) {
      const MicroBatchLoss& mb = losses[i];
      const double value = mb.loss.item<double>();
      totals.loss(rank()) += static_cast<float>(value);
      for (const auto& [k, v] : mb.parts) {
        auto it = std::find(part_names.begin(), part_names.end(), k);
        E2LLM_CHECK(it != part_names.end(), "training: the task reported a loss part '{}' it does not name", k);
        totals.part(static_cast<size_t>(it - part_names.begin())) += static_cast<float>(v / micro_batches);
      }
      totals.tokens() += static_cast<float>(mb.tokens);
      if (!std::isfinite(value)) {
        totals.bad_micro(rank()) = static_cast<float>(mine[first + i] + 1);
        break;
      }
      pass_loss = pass_loss.defined() ? pass_loss + mb.loss : mb.loss;
    }
    if (totals.bad_micro(rank()) == 0) (pass_loss / micro_batches).backward();
  }
}

// Rank 0's decision, on every rank (e.g. its clock says stop).
bool Trainer::State::leader_decides(bool decision) {
  if (!distributed()) return decision;
  torch::Tensor flag = torch::full({1}, decision ? 1.0 : 0.0);
  group->broadcast({flag});
  return flag.item<float>() != 0;
}

void Trainer::State::log_metrics(const nlohmann::json& line) {
  if (!metrics) return;
  *metrics << line.dump() << '\n';
  metrics->flush();
}

void refuse_overwriting_a_run(const TrainOptions& options) {
  if (options.resume || options.output_dir.empty()) return;
  const std::string earlier = latest_checkpoint(options.output_dir);
  E2LLM_CHECK(earlier.empty(),
              "training: {} already holds a run (its latest checkpoint: {}); --resume (training.resume) continues "
              "it, or train into another output_dir",
              options.output_dir, earlier);
}

Trainer::Trainer(TrainTask& task, TrainOptions options, ProcessGroup* group)
    : state_(std::make_unique<State>(task, std::move(options), group)) {
  State& s = *state_;
  s.params = task.named_trainable();
  s.part_names = task.loss_parts();
  E2LLM_CHECK(!s.params.empty(), "training: the task has no trainable parameters");
  for (const auto& [name, p] : s.params)
    E2LLM_CHECK(p.requires_grad(), "training: parameter '{}' does not require grad", name);
  E2LLM_CHECK(s.options.grad_accum >= s.world_size(),
              "training: grad_accum ({}) is the number of micro-batches per step, shared out over the {} processes; "
              "it must be at least that many",
              s.options.grad_accum, s.world_size());
  if (s.distributed()) s.check_ranks_agree();
  s.optimizer = make_optimizer(s.params, s.options);
  if (s.leader() && !s.options.resume) {
    refuse_overwriting_a_run(s.options);
    if (s.options.init_from.empty()) {
      task.initialize();
    } else {  // the tensors only: this run's step, optimizer and data order start afresh
      const TrainingState from = load_checkpoint(s.options.init_from);
      s.import_tensors(from, "training.init_from " + s.options.init_from, /*may_add_lora=*/true);
      spdlog::info("training: starting from the tensors of {} (its step {})", s.options.init_from, from.step);
    }
  }
  if (s.leader() && s.options.resume) {
    E2LLM_CHECK(!s.options.output_dir.empty(), "training: --resume needs an output_dir");
    std::string latest = latest_checkpoint(s.options.output_dir);
    E2LLM_CHECK(!latest.empty(), "training: nothing to resume in {} (no 'latest' checkpoint)", s.options.output_dir);
    s.import_state(load_checkpoint(latest));
    s.last_checkpoint = latest;
  }
  if (s.distributed()) s.copy_state_from_leader();
  if (s.leader() && !s.options.metrics_log.empty()) {
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
  if (!s.leader()) return "";
  s.last_checkpoint = e2llm::save_checkpoint(s.options.output_dir, s.export_state(), s.options.keep_checkpoints);
  return s.last_checkpoint;
}

TrainResult Trainer::run() {
  try {
    return train();
  } catch (const DistributedError& e) {
    throw Error(fmt::format("{}; last good checkpoint: {}", e.what(), state_->checkpoint_or_none()));
  }
}

void Trainer::set_stop_flag(const std::atomic<bool>& flag) { state_->stop_flag = &flag; }

TrainResult Trainer::train() {
  State& s = *state_;
  const TrainOptions& o = s.options;
  train::ProgressLine progress(o.progress && s.leader(), o.log_every);
  const auto start = Clock::now();
  const int64_t first_step = s.step;
  const auto micro_batches = static_cast<double>(o.grad_accum);
  double tokens = 0;
  bool stopped_by_time = false, stopped_on_request = false;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  int64_t saved_at = -1;

  while (s.step < o.max_steps) {
    const bool asked = s.stop_flag != nullptr && s.stop_flag->load();
    if (s.leader_decides(asked || (o.max_time_s > 0 && elapsed() >= o.max_time_s))) {
      (asked ? stopped_on_request : stopped_by_time) = true;
      progress.message(asked ? fmt::format("stopping at step {}: asked to stop", s.step)
                             : fmt::format("stopping at step {}: --max-time {}s reached", s.step, o.max_time_s));
      break;
    }
    const double lr = learning_rate_at(o, s.step);
    for (auto& group : s.optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    for (auto& [name, p] : s.params) p.mutable_grad() = torch::Tensor();

    StepTotals totals(s.world_size(), static_cast<int>(s.part_names.size()));
    s.run_micro_batches(totals);
    // Time in the collectives, waiting for the slowest rank included.
    const auto sync_start = Clock::now();
    if (s.distributed()) s.group->all_reduce_sum({totals.values});
    for (int r = 0; r < s.world_size(); ++r)
      E2LLM_CHECK(totals.bad_micro(r) == 0,
                  "training stopped: loss is {} at step {} (micro-batch {}{}); weights were not updated; "
                  "last good checkpoint: {}",
                  totals.loss(r), s.step, static_cast<int64_t>(totals.bad_micro(r)) - 1,
                  s.distributed() ? fmt::format(", rank {}", r) : "", s.checkpoint_or_none());
    double loss_sum = 0;
    for (int r = 0; r < s.world_size(); ++r) loss_sum += totals.loss(r);
    std::map<std::string, double> parts;
    for (size_t i = 0; i < s.part_names.size(); ++i) parts[s.part_names[i]] = totals.part(i);
    tokens += totals.tokens();

    std::vector<torch::Tensor> with_grad = s.reduce_gradients();
    const double sync_s = std::chrono::duration<double>(Clock::now() - sync_start).count();
    const double norm = with_grad.empty() ? 0.0
                        : o.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(with_grad, o.max_grad_norm)
                                              : torch::nn::utils::clip_grad_norm_(with_grad, INFINITY);
    E2LLM_CHECK(std::isfinite(norm),
                "training stopped: gradient norm is {} at step {}; weights were not updated; last good checkpoint: {}",
                norm, s.step, s.checkpoint_or_none());
    s.optimizer->step();
    ++s.step;
    s.last_loss = loss_sum / micro_batches;

    const double secs = elapsed();
    const double per_step = secs / static_cast<double>(s.step - first_step);
    train::ProgressSnapshot snap{s.step, o.max_steps, s.last_loss, parts, lr, tokens / std::max(secs, 1e-9),
                                 per_step * static_cast<double>(o.max_steps - s.step)};
    progress.update(snap);
    nlohmann::json line = {{"step", s.step}, {"loss", s.last_loss}, {"parts", parts_json(parts)}, {"lr", lr},
                           {"grad_norm", norm}, {"tokens_per_s", snap.tokens_per_s}, {"elapsed_s", secs}};
    if (s.distributed()) line["allreduce_s"] = sync_s;
    s.log_metrics(line);

    if (s.leader() && o.eval_every > 0 && s.step % o.eval_every == 0) {
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
  return {s.step, stopped_by_time, stopped_on_request, s.last_loss, s.last_eval, s.last_checkpoint};
}

}  // namespace e2llm
