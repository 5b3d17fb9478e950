// e2llm generate: text generation with a decoder model (HF folder or .gguf),
// streaming to stdout, or one JSON object with --json.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "command.h"
#include "e2llm/generate/chat_template.h"
#include "e2llm/core/error.h"
#include "e2llm/generate/generate.h"
#include "e2llm/core/runtime.h"
#include "e2llm/io/fs.h"
#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm::cli {
namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file, system, chat_template, weights = "auto";
  bool chat = false, greedy = false, json = false, stats = false, ignore_eos = false;
  int64_t max_new_tokens = 128;
  std::optional<double> temperature, top_p, min_p;
  std::optional<int64_t> top_k;
  RepetitionOptions penalties;
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

// Sampling unless --greedy, or when no sampling option was given at all.
SamplingConfig sampling_config(const GenerateArgs& a) {
  SamplingConfig c = a.penalties.applied_to(SamplingConfig{});
  c.greedy = a.greedy || !(a.temperature || a.top_k || a.top_p || a.min_p);
  c.temperature = a.temperature.value_or(1.0);
  c.top_k = a.top_k.value_or(0);
  c.top_p = a.top_p.value_or(1.0);
  c.min_p = a.min_p.value_or(0.0);
  c.seed = a.seed;
  c.validate();
  return c;
}

std::vector<int64_t> prompt_ids(const GenerateArgs& a, const CausalLMImpl& lm, const Tokenizer& tokenizer) {
  if (!a.chat) return tokenizer.encode(a.prompt, /*add_special_tokens=*/true).ids;
  ChatTemplate chat = chat_template_for_decoder(a.model, lm.model_dir(), tokenizer, a.chat_template);
  return chat_prompt_ids(chat, tokenizer, a.system, a.prompt);
}

void run_generate(const GenerateArgs& a) {
  E2LLM_CHECK(a.system.empty() || a.chat, "--system needs --chat");
  E2LLM_CHECK(a.chat_template.empty() || a.chat, "--chat-template needs --chat");
  GenerateOptions g;
  g.sampling = sampling_config(a);  // bad settings fail before the model loads
  const DecoderOptions options = decoder_options_for(a.weights, a.model);
  const auto load_start = std::chrono::steady_clock::now();
  CausalLM lm = load_causal_lm(a.model, options);
  spdlog::info("loaded decoder {} ({}, {} layers, hidden {}) in {:.2f} s", a.model, to_string(lm->config().family),
               lm->config().num_layers, lm->hidden_size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
  spdlog::info("weights: {}", lm->weights_description());
  E2LLM_CHECK(!lm->tokenizer_path().empty(), "{}: no tokenizer.json beside the model", a.model);
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_file(lm->tokenizer_path());

  g.stop.max_new_tokens = a.max_new_tokens;
  g.stop.stop_strings = a.stop;
  g.stop.ignore_eos = a.ignore_eos;
  if (!a.json) {
    g.on_text = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  }
  std::vector<int64_t> ids = prompt_ids(a, *lm, *tokenizer);
  GenerateResult r = generate(*lm, *tokenizer, {Segment::tokens(ids)}, g);
  if (a.json) {
    nlohmann::json j = {{"ids", r.ids}, {"text", r.text}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  if (a.stats)
    std::fprintf(stderr, "prompt %lld tokens, prefill %.1f tokens/s; %zu new tokens, decode %.1f tokens/s; stop: %s\n",
                 static_cast<long long>(r.prompt_tokens), r.prefill_tokens_per_second(), r.ids.size(),
                 r.decode_tokens_per_second(), to_string(r.stop_reason));
}

CommandRegistrar registrar("generate", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text with a decoder LLM (HF folder or .gguf)");
  auto a = std::make_shared<GenerateArgs>();
  add_model_option(cmd, a->model, "Model: Hugging Face folder or .gguf file")->required();
  auto* prompt = cmd->add_option("--prompt", a->prompt, "Prompt text");
  auto* prompt_file = cmd->add_option("--prompt-file", a->prompt_file,
                                      "Read the prompt from this file ('-': standard input), for prompts longer "
                                      "than a command line may be");
  prompt->excludes(prompt_file);
  cmd->add_flag("--chat", a->chat, "Wrap the prompt in the model's chat template (user turn + assistant opening)");
  cmd->add_option("--system", a->system, "System message (with --chat)");
  cmd->add_option("--chat-template", a->chat_template, "Override the detected chat template")
      ->check(CLI::IsMember({"llama2", "llama3", "chatml", "gemma"}));
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Most tokens to generate (generation also ends where the model's window does)")
      ->capture_default_str()->check(positive_number());
  cmd->add_flag("--greedy", a->greedy, "Greedy decoding even when sampling options are given "
                                       "(the default when none is)");
  cmd->add_option("--temperature", a->temperature, "Sampling temperature (> 0; 1 when sampling without it)");
  cmd->add_option("--top-k", a->top_k, "Keep the k most likely tokens (0 = off, the default)");
  cmd->add_option("--top-p", a->top_p,
                  "Nucleus sampling: keep the smallest set with this much probability (1 = off, the default)");
  cmd->add_option("--min-p", a->min_p,
                  "Drop tokens less likely than min-p x the most likely one (0 = off, the default)");
  add_repetition_options(cmd, a->penalties, "off");
  cmd->add_option("--seed", a->seed, "Random seed for sampling")->capture_default_str();
  cmd->add_option("--stop", a->stop, "Stop string (repeatable); excluded from the output");
  add_weights_option(cmd, a->weights);
  cmd->add_flag("--ignore-eos", a->ignore_eos,
                "Keep generating past the end-of-text token: --max-new-tokens tokens, unless the model's window ends "
                "first (for timing runs)");
  cmd->add_flag("--json", a->json, "Print {\"ids\": [...], \"text\": \"...\"} instead of streaming text");
  cmd->add_flag("--stats", a->stats, "Print prefill/decode tokens/s to stderr");
  cmd->callback([a, prompt, prompt_file] {
    E2LLM_CHECK(prompt->count() + prompt_file->count() == 1, "give the prompt: --prompt TEXT or --prompt-file FILE");
    GenerateArgs args = *a;
    if (prompt_file->count()) args.prompt = read_text_input(args.prompt_file);
    run_generate(args);
  });
});

}  // namespace
}  // namespace e2llm::cli
