// An evaluation run: a method answers every example of a converted dataset
// (datasets.h); predictions go to <output>/predictions.jsonl as they are
// made, a rerun skips the ids already there (so a killed or extended run
// resumes), and the scores of the selected examples are written as
// <output>/metrics.json and <output>/metrics.md.
//
// <output>/run.json records the method's settings; a rerun with other
// settings into the same folder is refused (its predictions would mix).
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2llm/data/datasets.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/eval/metrics.h"

namespace e2llm {

struct MethodAnswer {
  std::string text;
  nlohmann::json extra = nlohmann::json::object();  // written beside the prediction (token counts, timings)
  std::string skipped{};  // non-empty: the method cannot answer this example, and why (scored as skipped)
};

// Something that answers an example: E2LLM or a baseline.
class Method {
 public:
  virtual ~Method() = default;
  virtual MethodAnswer answer(const Example& example) = 0;
};

// A trained E2LLM checkpoint (load_e2llm, on `device`): generate(context,
// prompt, options) (options.on_text is not used).
std::unique_ptr<Method> make_e2llm_method(const std::string& checkpoint, const AnswerOptions& options,
                                          const std::string& weights = "auto", const std::string& device = "cpu");

// The metric a dataset implies: meta.metric when it names one, else meta.task
// "passkey"/"needle"; nullopt when the data does not say.
std::optional<MetricKind> metric_from_data(const std::vector<Example>& examples);

struct EvalOptions {
  std::string output_dir;
  MetricKind metric = MetricKind::rouge;
  size_t limit = 0;                 // the first `limit` examples (0 = all)
  std::string method_name;          // row label, e.g. "truncate"
  std::string dataset_name;         // row label, e.g. "qmsum-test"
  nlohmann::json settings = nlohmann::json::object();  // recorded in run.json, compared on resume
  bool progress = true;             // progress bar on stderr
};

struct EvalReport {
  size_t examples = 0;  // evaluated (after --limit)
  size_t resumed = 0;   // already in predictions.jsonl
  size_t computed = 0;  // answered in this run
  size_t skipped = 0;   // of all evaluated, those the method could not answer (left out of the scores)
  double seconds = 0;   // this run's answering time
  MetricsRow row;
  std::string markdown;  // the metrics table
};

// `make_method` is called only when some example still needs an answer (a
// finished run rescoring does not load a model). Throws e2llm::Error (with
// the example id) when the method fails; predictions made so far are kept.
EvalReport run_eval(const std::vector<Example>& examples, const std::function<std::unique_ptr<Method>()>& make_method,
                    const EvalOptions& options);

}  // namespace e2llm
