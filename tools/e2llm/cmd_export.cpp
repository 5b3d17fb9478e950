// e2llm export: a training checkpoint as a model to ship or share. It keeps
// what answering needs (the trainable tensors, the model config, the base
// models' identities) and drops what only training needs (the optimizer
// state, output paths). Base models that came from the model cache are named
// the way scripts/fetch_models.sh names them, not by this machine's paths, so
// the exported model works on any machine that fetched them.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/model_cache.h"

namespace e2llm::cli {
namespace {

struct ExportArgs {
  std::string checkpoint, output;
  bool force = false;
  RepetitionOptions answer_defaults;  // the model's own from now on (E2llmConfig)
};

// The training section as provenance: hyperparameters kept, this machine's
// folders and the run's own switches dropped; the tensors it started from
// (init_from) by their folder's name, not by this machine's path.
nlohmann::json training_provenance(const nlohmann::json& config) {
  auto t = config.find("training");
  if (t == config.end() || !t->is_object()) return nlohmann::json::object();
  nlohmann::json training = *t;
  for (const char* key : {"output_dir", "metrics_log", "resume", "progress", "max_time_s"}) training.erase(key);
  if (auto init = training.find("init_from"); init != training.end() && init->is_string()) {
    const std::filesystem::path path = std::filesystem::path(init->get<std::string>()).lexically_normal();
    *init = (path.has_filename() ? path : path.parent_path()).filename().string();
  }
  return training;
}

// --force replaces an exported model, never a training run: saving would
// prune the run's other steps and its optimizer state.
void check_output(const ExportArgs& a) {
  if (!std::filesystem::exists(a.output)) return;
  E2LLM_CHECK(a.force, "--output {} exists (--force replaces its model)", a.output);
  const std::string latest = latest_checkpoint(a.output);
  E2LLM_CHECK(latest.empty() || !std::filesystem::exists(latest + "/optimizer.safetensors"),
              "--output {} holds a training run ({}), not an exported model: export into another folder", a.output,
              latest);
}

void run_export(const ExportArgs& a) {
  check_output(a);
  TrainingState in = load_checkpoint(a.checkpoint);
  E2LLM_CHECK(in.config.contains("model") && in.config["model"].is_object(), "{}: the checkpoint has no model config",
              a.checkpoint);
  TrainingState out;
  out.step = in.step;
  // What the model is, without where it ran (the loader chooses the device).
  E2llmConfig config = E2llmConfig::from_json(in.config["model"], a.checkpoint);
  const SamplingConfig answer = a.answer_defaults.applied_to(SamplingConfig{}, config);
  config.repetition_penalty = answer.repetition_penalty;
  config.no_repeat_ngram_size = answer.no_repeat_ngram_size;
  nlohmann::json model = config.model_json();
  for (const char* key : {"encoder", "decoder"}) model[key] = model_name_if_cached(model[key].get<std::string>());
  out.config = {{"model", model}};
  out.base_models = in.base_models;
  for (BaseModelIdentity& base : out.base_models) base.path = model_name_if_cached(base.path);
  out.trainable = std::move(in.trainable);
  out.extra = in.extra;
  out.extra["exported_from"] = {{"step", in.step}, {"training", training_provenance(in.config)}};
  // With --force the old model stays until the new one is complete:
  // save_checkpoint() renames the new step into place, then prunes the rest.
  const std::string folder = save_checkpoint(a.output, out, 1);

  int64_t values = 0;
  for (const auto& [name, t] : out.trainable) values += t.numel();
  std::printf("exported step %lld to %s: %zu tensors, %lld values; base models:", static_cast<long long>(out.step),
              folder.c_str(), out.trainable.size(), static_cast<long long>(values));
  for (const BaseModelIdentity& base : out.base_models) std::printf(" %s=%s", base.role.c_str(), base.path.c_str());
  std::printf("\nanswer defaults: repetition penalty %g, no-repeat n-gram size %lld\n", config.repetition_penalty,
              static_cast<long long>(config.no_repeat_ngram_size));
}

CommandRegistrar registrar("export", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("export",
                                 "Export a training checkpoint as a model to ship: trainable tensors and config, no "
                                 "optimizer state, base models by their fetch_models.sh names");
  auto a = std::make_shared<ExportArgs>();
  cmd->add_option("--checkpoint", a->checkpoint, "Training output folder (its latest step) or one step folder")
      ->required();
  cmd->add_option("--output", a->output, "Folder for the model (answer/eval/serve --model read it)")->required();
  cmd->add_flag("--force", a->force, "Replace the model already in --output");
  add_repetition_options(cmd, a->answer_defaults,
                         "the checkpoint's; given, it becomes the model's own, what answer, eval and serve use "
                         "unless told otherwise");
  cmd->callback([a] { run_export(*a); });
});

}  // namespace
}  // namespace e2llm::cli
