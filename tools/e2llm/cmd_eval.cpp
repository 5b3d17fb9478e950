// e2llm eval: runs a method (E2LLM or a baseline on the same decoder) over a
// converted dataset, resumably, and prints the metrics table.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "e2llm/eval/baselines.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/evaluator.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"

namespace e2llm::cli {
namespace {

struct EvalArgs {
  std::string method, data, output, metric, model, checkpoint, weights = "auto", chat_template, system, dataset_name;
  int64_t window = 0, max_new_tokens = 100, rag_chunk_size = 256;
  size_t limit = 0;
  bool chat = false, no_progress = false, ignore_eos = false;
  RepetitionOptions penalties;
  SamplingConfig sampling;  // greedy, with the penalties that apply (set in run_eval)
};

E2llmConfig checkpoint_model(const std::string& checkpoint) {
  const nlohmann::json config = load_checkpoint_config(checkpoint);
  E2LLM_CHECK(config.contains("model"), "{}: the checkpoint has no model config", checkpoint);
  return E2llmConfig::from_json(config["model"], checkpoint);
}

nlohmann::json settings(const EvalArgs& a) {
  nlohmann::json s = {{"method", a.method},
                      {"data", std::filesystem::weakly_canonical(a.data).string()},
                      {"max_new_tokens", a.max_new_tokens}};
  s["weights"] = a.weights;
  // Only when set: runs from before these options still resume.
  if (a.ignore_eos) s["ignore_eos"] = true;
  if (a.sampling.repetition_penalty != 1.0) s["repetition_penalty"] = a.sampling.repetition_penalty;
  if (a.sampling.no_repeat_ngram_size != 0) s["no_repeat_ngram_size"] = a.sampling.no_repeat_ngram_size;
  if (a.method == "e2llm") {
    s["checkpoint"] = std::filesystem::weakly_canonical(a.checkpoint).string();
    return s;
  }
  s["model"] = std::filesystem::weakly_canonical(a.model).string();
  s["window"] = a.window;
  s["chat"] = a.chat;
  if (a.chat) {
    s["chat_template"] = a.chat_template;
    s["system"] = a.system;
  }
  if (a.method == "rag") {
    s["rag_chunk_size"] = a.rag_chunk_size;
    s["retriever"] = "bm25";
  }
  return s;
}

// The baselines' prompt options mean nothing to --method e2llm (its prompt
// is soft tokens and the question): refused rather than silently dropped.
void check_method_options(const CLI::App& cmd, const std::string& method) {
  for (const char* option : {"--window", "--chat", "--chat-template", "--system", "--rag-chunk-size"})
    E2LLM_CHECK(method != "e2llm" || cmd.count(option) == 0, "{} is for the baselines, not --method e2llm", option);
  for (const char* option : {"--chat-template", "--system"})
    E2LLM_CHECK(cmd.count(option) == 0 || cmd.count("--chat") > 0, "{} needs --chat", option);
}

void run_eval_command(EvalArgs a) {
  const bool is_e2llm = a.method == "e2llm";
  E2LLM_CHECK(is_e2llm || a.method == "full" || a.method == "truncate" || a.method == "rag",
              "unknown --method '{}' (choose e2llm, full, truncate or rag)", a.method);
  if (is_e2llm) {
    E2LLM_CHECK(a.model.empty(), "--model is for the baselines; --method e2llm reads the decoder from --checkpoint");
    if (a.checkpoint.empty()) a.checkpoint = shipped_model_dir();
    // The step folder, not a training folder whose `latest` moves on: a
    // resumed run must not mix two checkpoints' answers (run.json records it).
    a.checkpoint = checkpoint_folder(a.checkpoint);
  } else {
    E2LLM_CHECK(!a.model.empty(),
                "--method {} needs --model PATH (the decoder: HF folder or .gguf, or a model name of "
                "scripts/fetch_models.sh)",
                a.method);
    E2LLM_CHECK(a.checkpoint.empty(), "--checkpoint is for --method e2llm");
  }
  E2LLM_CHECK(a.max_new_tokens > 0, "--max-new-tokens must be positive");
  E2LLM_CHECK(a.rag_chunk_size > 0, "--rag-chunk-size must be positive");
  E2LLM_CHECK(file_exists(a.data), "--data {}: no such file", a.data);

  std::vector<Example> examples = read_examples(a.data);
  E2LLM_CHECK(!examples.empty(), "{}: no examples", a.data);
  EvalOptions o;
  o.output_dir = a.output;
  o.limit = a.limit;
  o.method_name = a.method;
  o.dataset_name = a.dataset_name.empty() ? std::filesystem::path(a.data).stem().string() : a.dataset_name;
  o.progress = !a.no_progress;
  if (!a.metric.empty()) {
    o.metric = parse_metric_kind(a.metric);
  } else {
    auto metric = metric_from_data(examples);
    E2LLM_CHECK(metric.has_value(), "{}: the data does not name its metric; give --metric rouge|qa|choice|passkey|needle",
                a.data);
    o.metric = *metric;
  }
  // A model name becomes its path once the options and data have been checked.
  if (!is_e2llm) a.model = model_argument(a.model);
  // An E2LLM checkpoint's own answer defaults fill what the command line left out.
  a.sampling = is_e2llm ? a.penalties.applied_to(SamplingConfig{}, checkpoint_model(a.checkpoint))
                        : a.penalties.applied_to(SamplingConfig{});
  o.settings = settings(a);

  auto make_method = [&]() -> std::unique_ptr<Method> {
    if (is_e2llm) {
      AnswerOptions answer(a.max_new_tokens);
      answer.ignore_eos = a.ignore_eos;
      answer.sampling = a.sampling;
      return make_e2llm_method(a.checkpoint, answer, a.weights, global_options().device);
    }
    BaselineOptions b;
    b.kind = parse_baseline_kind(a.method);
    b.model = a.model;
    b.weights = a.weights;
    b.device = global_options().device;
    b.window = a.window;
    b.max_new_tokens = a.max_new_tokens;
    b.ignore_eos = a.ignore_eos;
    b.sampling = a.sampling;
    b.chat = a.chat;
    b.chat_template = a.chat_template;
    b.system = a.system;
    b.rag.chunker.chunk_size = a.rag_chunk_size;
    return make_baseline_method(b);
  };
  EvalReport r = run_eval(examples, make_method, o);
  std::printf("%s\n", r.markdown.c_str());
  std::printf("%zu examples: %zu run now in %.1f s, %zu resumed from %s/predictions.jsonl\n", r.examples,
              r.computed, r.seconds, r.resumed, a.output.c_str());
  if (r.skipped > 0) {
    std::printf("%zu examples skipped: the method cannot answer them (predictions.jsonl says why); the scores "
                "are over the other %zu\n",
                r.skipped, r.examples - r.skipped);
  }
  std::printf("wrote %s/metrics.json and %s/metrics.md\n", a.output.c_str(), a.output.c_str());
}

CommandRegistrar registrar("eval", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate E2LLM or a baseline (full, truncate, rag) on a converted dataset; resumable");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--method", a->method,
                  "e2llm, full (only the examples whose text fits --window; the rest are counted as skipped), "
                  "truncate or rag")
      ->required();
  cmd->add_option("--data", a->data, "Converted dataset JSONL ({id, context, prompt, answers, meta}; e2llm convert)")
      ->required();
  cmd->add_option("--output", a->output, "Folder for predictions.jsonl, metrics.json, metrics.md, run.json")
      ->required();
  cmd->add_option("--metric", a->metric, "rouge, qa, choice, passkey or needle (default: from the data's meta)");
  cmd->add_option("--model", a->model,
                  "Decoder for the baselines: HF folder or .gguf, or the name of a model scripts/fetch_models.sh "
                  "fetched (e.g. SmolLM2-135M-Instruct.Q4_1.gguf)");
  cmd->add_option("--checkpoint", a->checkpoint,
                  "E2LLM checkpoint (training output folder or step folder; default: the shipped model, "
                  "docs/model.md, or $E2LLM_MODEL)");
  cmd->add_option("--limit", a->limit, "Only the first N examples (0 = all)")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--window", a->window, "Decoder window in tokens, prompt + answer (0 = the model's, at most 2048)")
      ->capture_default_str()->check(non_negative_number());
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Longest answer in tokens (it also ends where the decoder's window does)")
      ->capture_default_str()
      ->check(positive_number());
  cmd->add_flag("--ignore-eos", a->ignore_eos,
                "Keep generating past the end-of-text token: every answer has --max-new-tokens tokens, unless the "
                "decoder's window ends first (for timing runs such as bench/efficiency.py)");
  cmd->add_flag("--chat", a->chat, "Baselines: put \"<context>\\n\\n<prompt>\" in the chat template's user turn");
  cmd->add_option("--chat-template", a->chat_template, "Override the detected chat template")
      ->check(CLI::IsMember({"llama2", "llama3", "chatml", "gemma"}));
  cmd->add_option("--system", a->system, "System message (with --chat)");
  add_repetition_options(cmd, a->penalties, "e2llm: the checkpoint's own, docs/model.md; the baselines: off");
  add_weights_option(cmd, a->weights);
  cmd->add_option("--rag-chunk-size", a->rag_chunk_size, "RAG: chunk size in decoder tokens")->capture_default_str();
  cmd->add_option("--dataset-name", a->dataset_name, "Dataset label in the table (default: the data file's stem)");
  cmd->add_flag("--no-progress", a->no_progress, "No progress bar on stderr");
  cmd->callback([a, cmd] {
    check_method_options(*cmd, a->method);
    run_eval_command(*a);
  });
});

}  // namespace
}  // namespace e2llm::cli
