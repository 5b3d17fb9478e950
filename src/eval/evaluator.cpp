// run_eval: answers the examples not yet in predictions.jsonl, then scores
// the selection and writes the metrics table (include/e2llm/eval/evaluator.h).
#include "e2llm/eval/evaluator.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <unordered_set>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"

namespace e2llm {

std::optional<MetricKind> metric_from_data(const std::vector<Example>& examples) {
  if (examples.empty()) return std::nullopt;
  const nlohmann::json& meta = examples.front().meta;
  if (!meta.is_object()) return std::nullopt;
  if (auto it = meta.find("metric"); it != meta.end() && it->is_string()) return parse_metric_kind(it->get<std::string>());
  if (auto it = meta.find("task"); it != meta.end() && it->is_string()) {
    const std::string task = it->get<std::string>();
    if (task == "passkey") return MetricKind::passkey;
    if (task == "needle") return MetricKind::needle;
  }
  return std::nullopt;
}

namespace {

bool holds_predictions(const std::string& dir) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(dir + "/predictions.jsonl", ec);
  return !ec && size > 0;
}

// run.json: the settings of the run whose predictions the folder holds. A
// folder without predictions yet (a run refused or stopped before its first
// answer) takes the new settings.
void check_or_record_settings(const std::string& dir, const nlohmann::json& settings) {
  const std::string path = dir + "/run.json";
  if (!file_exists(path) || !holds_predictions(dir)) {
    write_file_atomic(path, settings.dump(2) + "\n");
    return;
  }
  nlohmann::json saved = read_json_file(path);
  if (saved == settings) return;
  std::string what;
  for (const auto& [key, value] : settings.items()) {
    if (!saved.contains(key) || saved[key] != value) {
      what = fmt::format("{} was {}, now {}", key, saved.contains(key) ? saved[key].dump() : "unset", value.dump());
      break;
    }
  }
  if (what.empty()) what = "settings differ";
  fail("{} holds predictions made with other settings ({}); use another --output folder", dir, what);
}

}  // namespace

EvalReport run_eval(const std::vector<Example>& examples, const std::function<std::unique_ptr<Method>()>& make_method,
                    const EvalOptions& options) {
  E2LLM_CHECK(!options.output_dir.empty(), "no output folder given");
  const size_t count = options.limit ? std::min(options.limit, examples.size()) : examples.size();
  E2LLM_CHECK(count > 0, "no examples to evaluate");
  const std::vector<Example> selected(examples.begin(), examples.begin() + static_cast<std::ptrdiff_t>(count));
  std::unordered_set<std::string> ids;
  for (const Example& ex : selected) E2LLM_CHECK(ids.insert(ex.id).second, "example id '{}' appears twice", ex.id);

  std::error_code ec;
  std::filesystem::create_directories(options.output_dir, ec);
  E2LLM_CHECK(!ec && is_directory(options.output_dir), "{}: cannot create the output folder: {}", options.output_dir,
              ec.message());
  check_or_record_settings(options.output_dir, options.settings);

  EvalReport report;
  report.examples = count;
  const std::string predictions_path = options.output_dir + "/predictions.jsonl";
  {
    PredictionLog log(predictions_path);
    std::vector<const Example*> todo;
    for (const Example& ex : selected) {
      if (log.done(ex.id)) {
        ++report.resumed;
      } else {
        todo.push_back(&ex);
      }
    }
    if (!todo.empty()) {
      std::unique_ptr<Method> method = make_method();
      std::optional<ProgressBar> bar;
      if (options.progress) bar.emplace(count, report.resumed);
      const auto run_start = std::chrono::steady_clock::now();
      for (const Example* ex : todo) {
        const auto start = std::chrono::steady_clock::now();
        MethodAnswer answer;
        try {
          answer = method->answer(*ex);
        } catch (const Error&) {
          if (bar) bar->finish();
          throw;
        } catch (const std::exception& e) {
          if (bar) bar->finish();
          fail("example '{}': {}", ex->id, e.what());
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        nlohmann::json extra = answer.extra.is_object() ? answer.extra : nlohmann::json::object();
        extra["seconds"] = seconds;
        log.append({ex->id, answer.text, answer.skipped}, extra);
        ++report.computed;
        if (bar) bar->advance();
      }
      if (bar) bar->finish();
      report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    }
  }

  std::vector<Reference> references;
  references.reserve(count);
  for (const Example& ex : selected) references.push_back({ex.id, ex.answers});
  ScoredPredictions scored = score_predictions(options.metric, references, read_predictions(predictions_path));
  report.skipped = scored.skipped;
  report.row = {options.method_name, options.dataset_name, scored.aggregate};
  report.markdown = metrics_markdown({report.row});

  nlohmann::ordered_json metrics = {{"metric", metric_kind_name(options.metric)},
                                    {"rows", metrics_json({report.row})},
                                    {"settings", options.settings}};
  write_file_atomic(options.output_dir + "/metrics.json", metrics.dump(2) + "\n");
  write_file_atomic(options.output_dir + "/metrics.md", report.markdown);
  return report;
}

}  // namespace e2llm
