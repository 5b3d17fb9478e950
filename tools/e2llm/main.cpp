// e2llm: the command-line front end. Subcommands register themselves
// (command.h); this file parses the shared options and turns every error into
// a one-line reason and exit code 1.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/core/runtime.h"
#include "e2llm/io/model_cache.h"

namespace e2llm::cli {

GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}

std::vector<RegisteredCommand>& registered_commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

namespace {
CLI::Validator number_above(double bound, bool or_equal, const char* name, const char* wanted) {
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value)) return "must be a number, not '" + input + "'";
        return value > bound || (or_equal && value == bound) ? "" : std::string("must be ") + wanted + ", not " + input;
      },
      name);
}
}  // namespace

const CLI::Validator& positive_number() {
  static const CLI::Validator check = number_above(0, false, "POSITIVE", "positive");
  return check;
}

const CLI::Validator& non_negative_number() {
  static const CLI::Validator check = number_above(0, true, "NONNEGATIVE", "0 or more");
  return check;
}

CLI::Option* add_weights_option(CLI::App* cmd, std::string& weights) {
  return cmd
      ->add_option("--weights", weights,
                   "How the decoder holds its weights: auto (a .gguf file's quantized blocks as they are, else "
                   "float32), quantized, float32 or bfloat16")
      ->check(CLI::IsMember({"auto", "quantized", "float32", "fp32", "bfloat16", "bf16"}))
      ->capture_default_str();
}

std::string model_argument(const std::string& given) {
  return std::filesystem::exists(given) ? given : resolve_model_path(given);
}

CLI::Option* add_model_option(CLI::App* cmd, std::string& model, const std::string& what) {
  return cmd
      ->add_option("--model", model,
                   what + ", or the name of a model scripts/fetch_models.sh fetched (e.g. SmolLM2-135M-Instruct.Q4_1.gguf)")
      ->transform([](const std::string& given) { return model_argument(given); }, "", "");
}

SamplingConfig RepetitionOptions::applied_to(SamplingConfig sampling, const E2llmConfig& model) const {
  sampling.repetition_penalty = penalty.value_or(model.repetition_penalty);
  sampling.no_repeat_ngram_size = ngram_size.value_or(model.no_repeat_ngram_size);
  return sampling;
}

SamplingConfig RepetitionOptions::applied_to(SamplingConfig sampling) const {
  return applied_to(sampling, E2llmConfig{});  // whose answer defaults are off
}

void add_repetition_options(CLI::App* cmd, RepetitionOptions& options, const std::string& default_text) {
  const std::string unset = "; default: " + default_text;
  cmd->add_option("--repetition-penalty", options.penalty,
                  "Divide the positive scores of tokens already in the prompt or answer by this, multiply the "
                  "negative ones (1 = off" + unset + ")")
      ->check(positive_number());
  cmd->add_option("--no-repeat-ngram-size", options.ngram_size,
                  "Never repeat an n-gram of this many tokens of the prompt or answer (0 = off" + unset + ")")
      ->check(non_negative_number());
}

CommandRegistrar::CommandRegistrar(std::string name, CommandSetup setup) {
  registered_commands().push_back({std::move(name), std::move(setup)});
}

// The commands that place their models on --device; the others compute on
// the CPU, so an explicit non-CPU device is refused rather than ignored.
void refuse_unsupported_device(const std::string& device, const std::string& command) {
  for (const char* placed : {"embed", "train", "answer", "eval", "serve"})
    if (command == placed) return;
  if (device == "auto") return;
  const torch::Device parsed = parse_device(device);  // also refuses unknown names
  E2LLM_CHECK(parsed.is_cpu(),
              "--device {}: '{}' runs on the CPU only (embed, train, answer, eval and serve use another device)",
              device, command);
}

}  // namespace e2llm::cli

int main(int argc, char** argv) {
  using namespace e2llm::cli;
  CLI::App app{"e2llm: long-context compression with Encoder Elongated LLMs (E2LLM)", "e2llm"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("e2llm ") + E2LLM_VERSION);
  GlobalOptions& g = global_options();
  app.add_option("--threads", g.threads, "CPU threads (default: all cores)")->check(non_negative_number());
  app.add_option("--device", g.device,
                 "auto (cuda when available), cpu, cuda or cuda:N, for embed, train (default: the config's "
                 "model.device), answer, eval and serve; the other commands run on the CPU and refuse cuda")
      ->capture_default_str();
  app.add_option("--log-level", g.log_level,
                 "messages on stderr: trace, debug (timings), info (models loaded, chunk counts), warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  auto& commands = registered_commands();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& command : commands) command.setup(app);

  // Runs after parsing, before the chosen subcommand's callback. Log lines go
  // to stderr: stdout carries the commands' results.
  app.parse_complete_callback([&] {
    spdlog::set_default_logger(spdlog::stderr_color_mt("e2llm"));
    spdlog::set_pattern("e2llm: %l: %v");
    spdlog::set_level(spdlog::level::from_str(g.log_level));
    e2llm::set_threads(g.threads);
    g.device_given = app.get_option("--device")->count() > 0;
    const auto chosen = app.get_subcommands();
    refuse_unsupported_device(g.device, chosen.empty() ? "" : chosen.front()->get_name());
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // CLI11 says only "A subcommand is required" for a misspelt command or
    // an unknown option before it.
    if (dynamic_cast<const CLI::RequiredError*>(&e) && app.get_subcommands().empty() && !app.remaining().empty()) {
      const std::string word = app.remaining().front();
      const bool option = word.rfind('-', 0) == 0;
      std::fprintf(stderr, "e2llm: error: unknown %s '%s' (e2llm --help lists the %s)\n", option ? "option" : "command",
                   word.c_str(), option ? "options and commands" : "commands");
      return 1;
    }
    // Like every other bad input: one line, exit code 1 (README), rather
    // than CLI11's two lines and its own exit codes.
    const auto chosen = app.get_subcommands();
    const std::string_view what = e.what();
    const auto names_a_shared_option = [&what](const CLI::Option* option) {
      return what.starts_with(option->get_name() + ":");
    };
    const auto shared = app.get_options();
    const bool about_shared = std::any_of(shared.begin(), shared.end(), names_a_shared_option);
    const std::string help =
        chosen.empty() || about_shared ? "e2llm --help" : "e2llm " + chosen.front()->get_name() + " --help";
    std::fprintf(stderr, "e2llm: error: %s (%s lists the options)\n", e.what(), help.c_str());
    return 1;
  } catch (const e2llm::Error& e) {
    std::fprintf(stderr, "e2llm: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "e2llm: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2llm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
