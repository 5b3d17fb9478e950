// e2llm answer: answers a question about (or summarizes) a long context with
// a trained E2LLM checkpoint.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "command.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"

namespace e2llm::cli {
namespace {

struct AnswerArgs {
  std::string model, context, question, weights = "auto";
  bool summarize = false;
  bool verbose = false;
  bool ignore_eos = false;
  int64_t max_new_tokens = 128;
  RepetitionOptions penalties;
};

double peak_rss_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void run_answer(const AnswerArgs& args) {
  E2LLM_CHECK(args.summarize != !args.question.empty(), "give exactly one of --question TEXT and --summarize");
  torch::InferenceMode inference;
  const std::string checkpoint = args.model.empty() ? shipped_model_dir() : args.model;
  std::unique_ptr<E2llmModel> model = load_e2llm(checkpoint, args.weights, global_options().device);
  const std::string context = read_text_input(args.context);
  const std::string prompt = args.summarize ? model->config().summarize_instruction : args.question;
  AnswerOptions options(args.max_new_tokens);
  options.ignore_eos = args.ignore_eos;
  options.sampling = args.penalties.applied_to(SamplingConfig{}, model->config());  // greedy
  // The answer appears as it is generated, and a long document's encoding
  // shows its progress on a terminal: seconds of silence otherwise.
  options.on_text = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  std::optional<ProgressBar> encoding;
  size_t encoded = 0;
  if (::isatty(STDERR_FILENO) == 1)
    options.on_encoded = [&encoding, &encoded](size_t done, size_t total) {
      if (!encoding) {
        std::fprintf(stderr, "encoding the text: %zu chunk%s\n", total, total == 1 ? "" : "s");
        encoding.emplace(total, 0);
      }
      encoding->advance(done - encoded);
      encoded = done;
      if (done == total) encoding->finish();  // ends the bar's line
    };
  AnswerTiming t;
  model->generate(context, prompt, options, &t);
  std::printf("\n");
  std::fflush(stdout);  // the answer's line ends before the --verbose report on stderr
  if (!args.verbose) return;
  std::fprintf(stderr, "model             %s (repetition penalty %g, no-repeat n-gram size %lld)\n",
               checkpoint_folder(checkpoint).c_str(), options.sampling.repetition_penalty,
               static_cast<long long>(options.sampling.no_repeat_ngram_size));
  std::fprintf(stderr, "chunks            %lld (chunk size %lld encoder tokens)\n", static_cast<long long>(t.chunks),
               static_cast<long long>(model->chunk_size()));
  std::fprintf(stderr, "context tokens    %lld encoder tokens -> %lld decoder positions (compression %.1fx)\n",
               static_cast<long long>(t.context_tokens), static_cast<long long>(t.soft_tokens),
               t.soft_tokens ? static_cast<double>(t.context_tokens) / static_cast<double>(t.soft_tokens) : 0.0);
  std::fprintf(stderr, "encode            %.3f s\n", t.encode_s);
  std::fprintf(stderr, "prefill           %.3f s\n", t.prefill_s);
  std::fprintf(stderr, "decode            %.3f s (%lld tokens)\n", t.decode_s,
               static_cast<long long>(t.generated_tokens));
  std::fprintf(stderr, "peak memory       %.0f MiB\n", peak_rss_mib());
}

CommandRegistrar registrar("answer", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("answer", "Answer a question about a long text with a trained E2LLM checkpoint");
  auto args = std::make_shared<AnswerArgs>();
  cmd->add_option("--model", args->model,
                  "Checkpoint folder (a training output folder or one step folder; default: the shipped model, "
                  "docs/model.md, or $E2LLM_MODEL)");
  cmd->add_option("--context", args->context, "File with the long text ('-': standard input)")->required();
  cmd->add_option("--question", args->question, "The question");
  cmd->add_flag("--summarize", args->summarize, "Summarize the text instead of answering a question");
  cmd->add_option("--max-new-tokens", args->max_new_tokens, "Longest answer in tokens (it also ends where the decoder's window does)")
      ->capture_default_str()
      ->check(positive_number());
  cmd->add_flag("--ignore-eos", args->ignore_eos,
                "Keep generating past the end-of-text token: --max-new-tokens tokens, unless the decoder's window ends "
                "first (for timing runs)");
  add_repetition_options(cmd, args->penalties, "the model's own, docs/model.md");
  add_weights_option(cmd, args->weights);
  cmd->add_flag("--verbose", args->verbose, "Print the model used, chunk count, compression, timings and peak memory on stderr");
  cmd->callback([args] { run_answer(*args); });
});

}  // namespace
}  // namespace e2llm::cli
