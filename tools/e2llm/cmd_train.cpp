// e2llm train --config FILE: trains E2LLM (adapter, pooling, LoRA) on JSON
// Lines data. The config has three sections:
//   {"model": E2llmConfig, "training": TrainOptions, "data": {"train", "eval", "eval_examples", "eval_max_new_tokens"}}
// Relative paths are taken from the config file's folder; "~/" is $HOME.
//
// Data-parallel: --nproc N starts N workers here (local_workers.h); a worker,
// or a process of a multi-machine job (--rank/--world-size/--master or the
// torchrun environment variables), joins the others through c10d
// (e2llm/train/distributed.h).
//
// Ctrl-C (SIGINT) or SIGTERM stops after the step in progress, with a
// checkpoint; the process then ends by that signal, so a shell script running
// it stops too. Another one, a second or more later, stops at once.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_cache.h"
#include "e2llm/train/distributed.h"
#include "e2llm/train/e2llm_task.h"
#include "io/json_fields.h"
#include "local_workers.h"

namespace e2llm::cli {
namespace {

struct TrainArgs {
  std::string config;
  int64_t max_steps = 0;
  double max_time = 0;
  bool resume = false;
  std::string output;
  bool quiet = false;
  int nproc = 1;
  int rank = -1;        // -1: from RANK (default 0)
  int world_size = -1;  // -1: from WORLD_SIZE (default 1)
  std::string master;   // ADDR:PORT; "": MASTER_ADDR / MASTER_PORT
  double dist_timeout = 0;
};

// The stop request of a signal (above). Handlers may only touch lock-free
// atomics and async-signal-safe calls.
std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signal{0};
std::atomic<int64_t> g_stop_at_ms{0};
std::atomic<bool> g_announce_stop{true};

int64_t monotonic_ms() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

void on_stop_signal(int signal) {
  if (!g_stop_requested.exchange(true)) {
    g_stop_signal = signal;
    g_stop_at_ms = monotonic_ms();
    static constexpr char kMessage[] =
        "\ne2llm train: stopping after this step, with a checkpoint (signal again to stop at once)\n";
    if (g_announce_stop) (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    return;
  }
  // The --nproc launcher forwards what a terminal also sent its workers: a
  // second copy within the second is the same Ctrl-C.
  if (monotonic_ms() - g_stop_at_ms >= 1000) {
    ::signal(signal, SIG_DFL);
    ::raise(signal);
  }
}

// Installs on_stop_signal for SIGINT and SIGTERM while it lives. A SIGINT
// that was ignored when the process started (a shell's background job) stays
// ignored, as shells expect.
class StopOnSignal {
 public:
  explicit StopOnSignal(bool announce) {
    g_announce_stop = announce;
    struct sigaction stop {};
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    ::sigaction(SIGINT, nullptr, &old_int_);
    if (old_int_.sa_handler != SIG_IGN) ::sigaction(SIGINT, &stop, nullptr);
    ::sigaction(SIGTERM, &stop, &old_term_);
  }
  ~StopOnSignal() { restore(); }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  // After a stop request: ends the process by the signal that asked, as it
  // would have ended without the handler (what is printed is flushed first).
  void end_if_asked() {
    restore();
    if (!g_stop_requested) return;
    std::fflush(nullptr);
    ::signal(g_stop_signal, SIG_DFL);
    ::raise(g_stop_signal);
  }

 private:
  void restore() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  struct sigaction old_int_ {}, old_term_ {};
};

// Where this process sits in a distributed job: the environment, then the
// options that override it.
DistributedConfig distributed_config(const TrainArgs& args) {
  DistributedConfig c = DistributedConfig::from_environment();
  if (args.rank >= 0) c.rank = args.rank;
  if (args.world_size >= 0) c.world_size = args.world_size;
  if (!args.master.empty()) {
    const size_t colon = args.master.rfind(':');
    E2LLM_CHECK(colon != std::string::npos && colon > 0, "--master {}: expected ADDR:PORT", args.master);
    c.master_addr = args.master.substr(0, colon);
    const std::string port = args.master.substr(colon + 1);
    E2LLM_CHECK(!port.empty() && port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5,
                "--master {}: the port '{}' is not a number", args.master, port);
    c.master_port = std::stoi(port);
  }
  if (args.dist_timeout > 0) c.timeout_s = args.dist_timeout;
  c.validate();
  return c;
}

// The command line of one --nproc worker: the same training, its share of
// the threads.
std::vector<std::string> worker_args(const TrainArgs& args) {
  const int threads = std::max(1, at::get_num_threads() / args.nproc);
  std::vector<std::string> out = {"--threads", std::to_string(threads), "--log-level", global_options().log_level};
  if (global_options().device_given) out.insert(out.end(), {"--device", global_options().device});
  out.insert(out.end(), {"train", "--config", args.config});
  if (args.max_steps > 0) out.insert(out.end(), {"--max-steps", std::to_string(args.max_steps)});
  if (args.max_time > 0) out.insert(out.end(), {"--max-time", fmt::format("{}", args.max_time)});
  if (args.resume) out.push_back("--resume");
  if (!args.output.empty()) out.insert(out.end(), {"--output", args.output});
  if (args.quiet) out.push_back("--quiet");
  if (args.dist_timeout > 0) out.insert(out.end(), {"--dist-timeout", fmt::format("{}", args.dist_timeout)});
  return out;
}

std::string resolve(const std::string& base, const std::string& path) {
  if (path.rfind("~/", 0) == 0 && std::getenv("HOME")) return std::getenv("HOME") + path.substr(1);
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base) / path).lexically_normal().string();
}

// A section of the config: an object; an optional one may be left out ({}).
nlohmann::json section(const nlohmann::json& j, const char* name, const std::string& file, bool required) {
  const nlohmann::json* s = json_fields::find(j, name, file);
  E2LLM_CHECK(s || !required, "{}: the \"{}\" section (an object) is missing", file, name);
  if (!s) return nlohmann::json::object();
  json_fields::require_object(*s, json_fields::Where(file, name));
  return *s;
}

// Makes the path in section[key], when there is one, relative to the config's folder.
void resolve_field(nlohmann::json& section, const char* key, const json_fields::Where& where,
                   const std::string& base) {
  if (auto path = json_fields::optional<std::string>(section, key, where)) section[key] = resolve(base, *path);
}

void run_train(const TrainArgs& args) {
  if (args.nproc > 1) {
    E2LLM_CHECK(args.rank < 0 && args.world_size < 0 && args.master.empty(),
                "--nproc starts the workers of a job on this machine; it does not combine with --rank, --world-size "
                "or --master");
    const int status = run_local_workers({worker_args(args), args.nproc});
    E2LLM_CHECK(status == 0, "train --nproc {}: the job failed (see the messages above)", args.nproc);
    return;
  }
  const DistributedConfig dist = distributed_config(args);
  const bool leader = dist.rank == 0;

  const nlohmann::json j = read_json_file(args.config);
  json_fields::require_known_keys(j, {"model", "training", "data"}, args.config);
  const std::string base = std::filesystem::path(args.config).parent_path().string();
  nlohmann::json model_json = section(j, "model", args.config, true);
  if (global_options().device_given) model_json["device"] = global_options().device;  // over the config's
  // One GPU per local worker, as torchrun's LOCAL_RANK convention has it.
  const char* local_rank = std::getenv("LOCAL_RANK");
  if (dist.world_size > 1 && local_rank && model_json.value("device", "cpu") == "cuda")
    model_json["device"] = std::string("cuda:") + local_rank;
  // A model name (no '/') stays a name: the model cache resolves it (io/model_cache.h).
  for (const char* key : {"encoder", "decoder"}) {
    const auto path = json_fields::optional<std::string>(model_json, key, {args.config, "model"});
    if (path && !is_model_name(*path)) model_json[key] = resolve(base, *path);
  }
  nlohmann::json training_json = section(j, "training", args.config, false);
  for (const char* key : {"output_dir", "metrics_log"})
    resolve_field(training_json, key, {args.config, "training"}, base);
  TrainOptions options = TrainOptions::from_json(training_json, args.config);
  if (args.max_steps > 0) options.max_steps = args.max_steps;
  if (args.max_time > 0) options.max_time_s = args.max_time;
  if (!args.output.empty()) options.output_dir = args.output;
  options.resume = options.resume || args.resume;
  options.progress = options.progress && !args.quiet && leader;
  E2LLM_CHECK(!options.output_dir.empty(), "{}: training.output_dir (or --output) is required", args.config);
  // Before joining the group and loading the models: every process sees the
  // refusal at once (the Trainer checks it again, for library callers).
  refuse_overwriting_a_run(options);
  std::unique_ptr<ProcessGroup> group;
  if (dist.world_size > 1) group = ProcessGroup::join(dist);

  const nlohmann::json data = section(j, "data", args.config, true);
  const json_fields::Where data_where(args.config, "data");
  json_fields::require_known_keys(data, {"train", "eval", "eval_examples", "eval_max_new_tokens"}, data_where);
  std::vector<Example> train =
      read_examples(resolve(base, json_fields::required<std::string>(data, "train", data_where)), ExampleUse::training);
  std::vector<Example> eval;
  if (auto path = json_fields::optional<std::string>(data, "eval", data_where))
    eval = read_examples(resolve(base, *path), ExampleUse::training);

  torch::manual_seed(options.seed);  // the adapter's initial weights
  E2llmModel model(E2llmConfig::from_json(model_json, args.config));
  E2llmTrainTask task(model, std::move(train), std::move(eval),
                      json_fields::value_or<int64_t>(data, "eval_examples", 64, data_where),
                      json_fields::value_or<int64_t>(data, "eval_max_new_tokens", 32, data_where));
  if (options.eval_every > 0) task.check_eval_fits();
  Trainer trainer(task, options, group.get());
  StopOnSignal stop(leader);
  trainer.set_stop_flag(g_stop_requested);
  TrainResult r = trainer.run();
  if (leader) {
    std::printf("trained to step %lld%s; last loss %.4f; checkpoint %s\n", static_cast<long long>(r.steps),
                r.stopped_on_request ? " (stopped by a signal; --resume continues)"
                : r.stopped_by_time  ? " (time limit)"
                                     : "",
                r.last_loss, r.last_checkpoint.c_str());
    for (const auto& [name, value] : r.last_eval) std::printf("eval %s %.4f\n", name.c_str(), value);
  }
  stop.end_if_asked();
}

CommandRegistrar registrar("train", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train E2LLM (adapter, pooling, LoRA) from a JSON config");
  cmd->footer(
      "Ctrl-C or SIGTERM stops after the step in progress, with a checkpoint (--resume continues); a second one, "
      "a second or more later, stops at once.");
  auto args = std::make_shared<TrainArgs>();
  cmd->add_option("--config", args->config, "Training config (JSON: model, training, data)")->required();
  cmd->add_option("--max-steps", args->max_steps,
                  "Stop after this many optimizer steps (default: the config's training.max_steps)")
      ->check(positive_number());
  cmd->add_option("--max-time", args->max_time,
                  "Stop (with a checkpoint) after this many seconds (default: the config's training.max_time_s; "
                  "0 there: no limit)")
      ->check(positive_number());
  cmd->add_flag("--resume", args->resume, "Continue from the output folder's latest checkpoint");
  cmd->add_option("--output", args->output, "Checkpoint folder (overrides training.output_dir)");
  cmd->add_flag("--quiet", args->quiet, "No progress line");
  cmd->add_option("--nproc", args->nproc,
                  "Data-parallel: start this many worker processes here, sharing the threads and each step's "
                  "micro-batches (training.grad_accum is the global count)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--rank", args->rank, "This process's rank in a multi-machine job (default: $RANK, else 0)")
      ->check(non_negative_number());
  cmd->add_option("--world-size", args->world_size,
                  "Processes in the whole job (default: $WORLD_SIZE, else 1 = not distributed)")
      ->check(positive_number());
  cmd->add_option("--master", args->master,
                  "ADDR:PORT where rank 0 hosts the rendezvous (default: $MASTER_ADDR:$MASTER_PORT, else "
                  "127.0.0.1:29500)");
  cmd->add_option("--dist-timeout", args->dist_timeout,
                  "Seconds a rank waits for the others before failing (default: $E2LLM_DIST_TIMEOUT, else 600)")
      ->check(positive_number());
  cmd->callback([args] { run_train(*args); });
});

}  // namespace
}  // namespace e2llm::cli
