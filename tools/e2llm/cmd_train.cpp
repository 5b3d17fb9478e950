// e2llm train --config FILE: trains E2LLM (adapter, pooling, LoRA) on JSON
// Lines data. The config has three sections:
//   {"model": E2llmConfig, "training": TrainOptions, "data": {"train", "eval", "eval_examples", "eval_max_new_tokens"}}
// Relative paths are taken from the config file's folder; "~/" is $HOME.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/train/e2llm_task.h"
#include "io/json_fields.h"

namespace e2llm::cli {
namespace {

struct TrainArgs {
  std::string config;
  int64_t max_steps = 0;
  double max_time = 0;
  bool resume = false;
  std::string output;
  bool quiet = false;
};

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
  const nlohmann::json j = read_json_file(args.config);
  const std::string base = std::filesystem::path(args.config).parent_path().string();
  nlohmann::json model_json = section(j, "model", args.config, true);
  for (const char* key : {"encoder", "decoder"}) resolve_field(model_json, key, {args.config, "model"}, base);
  nlohmann::json training_json = section(j, "training", args.config, false);
  for (const char* key : {"output_dir", "metrics_log"})
    resolve_field(training_json, key, {args.config, "training"}, base);
  TrainOptions options = TrainOptions::from_json(training_json, args.config);
  if (args.max_steps > 0) options.max_steps = args.max_steps;
  if (args.max_time > 0) options.max_time_s = args.max_time;
  if (!args.output.empty()) options.output_dir = args.output;
  options.resume = options.resume || args.resume;
  options.progress = options.progress && !args.quiet;
  E2LLM_CHECK(!options.output_dir.empty(), "{}: training.output_dir (or --output) is required", args.config);

  const nlohmann::json data = section(j, "data", args.config, true);
  const json_fields::Where data_where(args.config, "data");
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
  Trainer trainer(task, options);
  TrainResult r = trainer.run();
  std::printf("trained to step %lld%s; last loss %.4f; checkpoint %s\n", static_cast<long long>(r.steps),
              r.stopped_by_time ? " (time limit)" : "", r.last_loss, r.last_checkpoint.c_str());
  for (const auto& [name, value] : r.last_eval) std::printf("eval %s %.4f\n", name.c_str(), value);
}

CommandRegistrar registrar("train", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train E2LLM (adapter, pooling, LoRA) from a JSON config");
  auto args = std::make_shared<TrainArgs>();
  cmd->add_option("--config", args->config, "Training config (JSON: model, training, data)")->required();
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many optimizer steps (overrides the config)");
  cmd->add_option("--max-time", args->max_time, "Stop (with a checkpoint) after this many seconds");
  cmd->add_flag("--resume", args->resume, "Continue from the output folder's latest checkpoint");
  cmd->add_option("--output", args->output, "Checkpoint folder (overrides training.output_dir)");
  cmd->add_flag("--quiet", args->quiet, "No progress line");
  cmd->callback([args] { run_train(*args); });
});

}  // namespace
}  // namespace e2llm::cli
