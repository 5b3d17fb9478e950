// e2llm convert: an official dataset layout -> the evaluation JSONL schema.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "command.h"
#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"

namespace e2llm::cli {
namespace {

struct ConvertCliOptions {
  std::string format, output;
  bool keep_going = false;
  ConvertOptions convert;
};

// Converting TriviaQA's or NarrativeQA's evidence reads gigabytes for
// minutes: on a terminal, a count of the examples written so far, redrawn at
// most twice a second.
class ExampleCounter {
 public:
  ExampleCounter() : shown_(::isatty(STDERR_FILENO) == 1) {}
  void add() {
    ++count_;
    const auto now = std::chrono::steady_clock::now();
    if (!shown_ || now - drawn_ < std::chrono::milliseconds(500)) return;
    drawn_ = now;
    std::fprintf(stderr, "\rconverting: %zu examples", count_);
    std::fflush(stderr);
  }
  void finish() const {  // the final count, and the line ends
    if (shown_ && drawn_ != std::chrono::steady_clock::time_point{})
      std::fprintf(stderr, "\rconverting: %zu examples\n", count_);
  }
  size_t count() const { return count_; }

 private:
  bool shown_;
  size_t count_ = 0;
  std::chrono::steady_clock::time_point drawn_{};
};

void run_convert(ConvertCliOptions& o) {
  o.convert.format = parse_dataset_format(o.format);
  AtomicFileWriter out(o.output);
  ExampleCounter written;
  auto errors = convert_dataset(o.convert, [&](const Example& e) {
    std::string line = example_to_json(e).dump() + "\n";
    out.write(line.data(), line.size());
    written.add();
  });
  written.finish();
  const size_t count = written.count();
  out.commit();  // the good records are kept even when some were malformed
  for (const auto& e : errors) std::fprintf(stderr, "e2llm: warning: skipped %s\n", e.c_str());
  std::fprintf(stderr, "e2llm: wrote %zu examples to %s\n", count, o.output.c_str());
  if (!errors.empty() && !o.keep_going)
    fail("{} malformed record(s) skipped, first: {} (use --keep-going to accept)", errors.size(), errors.front());
}

CommandRegistrar registrar("convert", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a dataset to JSONL {id, context, prompt, answers, meta}");
  auto o = std::make_shared<ConvertCliOptions>();
  cmd->add_option("--format", o->format, "qmsum, govreport, quality, narrativeqa, triviaqa or longbench")
      ->required();
  cmd->add_option("--input", o->convert.input,
                  "The dataset file (govreport: also a folder; narrativeqa: the folder with qaps.csv)")
      ->required();
  cmd->add_option("--output", o->output, "Output JSONL file (written atomically)")->required();
  cmd->add_option("--stories", o->convert.stories_dir,
                  "narrativeqa: folder of <document_id>.content files (default: <input>/tmp)");
  cmd->add_option("--evidence", o->convert.evidence_dir,
                  "triviaqa: folder holding wikipedia/ and web/ (default: <input's folder>/../evidence)");
  cmd->add_option("--split", o->convert.split, "narrativeqa: keep only this set (train, valid, test)")
      ->check(CLI::IsMember({"train", "valid", "test"}));
  cmd->add_flag("--per-question", o->convert.per_question,
                "triviaqa: one example per question over all its evidence documents");
  cmd->add_flag("--keep-going", o->keep_going, "Exit 0 even when malformed records were skipped");
  cmd->callback([o] { run_convert(*o); });
});

}  // namespace
}  // namespace e2llm::cli
