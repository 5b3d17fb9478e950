// e2llm score: score predictions JSONL against references JSONL.
#include <cstdio>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/io/fs.h"

namespace e2llm::cli {
namespace {

struct ScoreOptions {
  std::string metric, predictions, references, per_example;
};

void write_per_example(const std::string& path, const ScoredPredictions& scored) {
  std::string out;
  for (size_t i = 0; i < scored.ids.size(); ++i) {
    nlohmann::ordered_json j = {{"id", scored.ids[i]}};
    for (const auto& [name, value] : scored.per_example[i]) j[name] = value;
    out += j.dump() + "\n";
  }
  write_file_atomic(path, out);
}

void run_score(const ScoreOptions& o) {
  MetricKind kind = parse_metric_kind(o.metric);
  auto references = read_references(o.references);
  E2LLM_CHECK(!references.empty(), "{}: no references", o.references);
  ScoredPredictions scored;
  try {
    scored = score_predictions(kind, references, read_predictions(o.predictions));
  } catch (const Error& e) {
    fail("{}: {}", o.predictions, e.what());
  }
  if (!o.per_example.empty()) write_per_example(o.per_example, scored);
  nlohmann::ordered_json result = {{"metric", metric_kind_name(kind)}};
  nlohmann::ordered_json aggregate = scores_json(scored.aggregate);
  for (const auto& [name, value] : aggregate.items()) result[name] = value;
  std::printf("%s\n", result.dump(2).c_str());
}

CommandRegistrar registrar("score", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("score", "Score predictions against references (means x 100, JSON on stdout)");
  auto o = std::make_shared<ScoreOptions>();
  cmd->add_option("--metric", o->metric, "rouge, qa, choice, passkey or needle")->required();
  cmd->add_option("--predictions", o->predictions, "JSONL of {\"id\", \"prediction\"}")->required();
  cmd->add_option("--references", o->references, "JSONL of {\"id\", \"answers\": [...]} (a converted dataset works)")
      ->required();
  cmd->add_option("--per-example", o->per_example, "Also write each example's scores (fractions) to this JSONL");
  cmd->callback([o] { run_score(*o); });
});

}  // namespace
}  // namespace e2llm::cli
