// Each subcommand lives in its own cmd_<name>.cpp and registers itself here,
// so adding a command never touches main.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/generate/sampling.h"

namespace e2llm::cli {

// Options every subcommand shares, filled in by main before the callback runs.
struct GlobalOptions {
  int threads = 0;             // 0 = all cores
  std::string device = "auto";
  bool device_given = false;   // --device was on the command line
  std::string log_level = "warn";
};
GlobalOptions& global_options();

// --repetition-penalty and --no-repeat-ngram-size, with transformers'
// meanings (e2llm/generate/sampling.h). Left out, an E2LLM model answers with
// its own (E2llmConfig: measured for it) and a plain decoder with neither.
struct RepetitionOptions {
  std::optional<double> penalty;
  std::optional<int64_t> ngram_size;
  // `sampling` with the two fields as given, else as `model` says.
  SamplingConfig applied_to(SamplingConfig sampling, const E2llmConfig& model) const;
  // `sampling` with the two fields as given, else off.
  SamplingConfig applied_to(SamplingConfig sampling) const;
};
// `default_text` ends each option's help: what applies when it is left out.
void add_repetition_options(CLI::App* cmd, RepetitionOptions& options, const std::string& default_text);

// Checks for numeric options with a message that says what is wrong
// ("--max-new-tokens: must be positive, not 0"); CLI11 2.1's PositiveNumber
// prints a range of two 309-digit doubles instead.
const CLI::Validator& positive_number();
const CLI::Validator& non_negative_number();

// --weights for the commands that run a decoder for inference (see
// decoder_options_for() in e2llm/decoder/decoder.h); `weights` holds "auto".
CLI::Option* add_weights_option(CLI::App* cmd, std::string& weights);

// A --model argument: a file or folder that exists as given, else a model
// name looked up in the model cache (e2llm/io/model_cache.h), whose error says
// to run scripts/fetch_models.sh. So a file here wins over a cached namesake.
std::string model_argument(const std::string& given);

// A required-or-not --model option described by `what` ("Hugging Face
// encoder folder"), resolved by model_argument as it is parsed.
CLI::Option* add_model_option(CLI::App* cmd, std::string& model, const std::string& what);

// The trained E2LLM model that ships with e2llm (models/ in the checkout,
// share/e2llm/models/ once installed; docs/model.md): what answer, eval and
// serve use without --model/--checkpoint. $E2LLM_MODEL overrides it. An
// error says where it looked when it is not found.
std::string shipped_model_dir();

using CommandSetup = std::function<void(CLI::App& app)>;

struct CommandRegistrar {
  CommandRegistrar(std::string name, CommandSetup setup);
};

struct RegisteredCommand {
  std::string name;
  CommandSetup setup;
};
std::vector<RegisteredCommand>& registered_commands();

}  // namespace e2llm::cli
