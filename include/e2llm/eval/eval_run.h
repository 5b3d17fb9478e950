// The model-independent bookkeeping of an evaluation run: predictions JSONL
// that a run appends to and resumes from, scoring predictions against
// references, the metrics table (markdown and JSON), and a progress bar.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "e2llm/eval/metrics.h"

namespace e2llm {

struct Prediction {
  std::string id;
  std::string prediction;
  std::string skipped{};  // why the method gave no answer (e.g. the text does not fit); empty = answered
};

// {"id", "prediction"[, "skipped"]} per line. A final line without its newline is what a
// killed run leaves behind and is ignored; any other bad line, or an id seen
// twice, throws e2llm::Error naming file and line.
std::vector<Prediction> read_predictions(const std::string& path);

// Append-only predictions file of a resumable run: opening it drops a torn
// last line; done(id) says which examples to skip; append() writes and
// flushes one line, so a crash loses at most the example in flight.
class PredictionLog {
 public:
  explicit PredictionLog(std::string path);
  ~PredictionLog();
  PredictionLog(const PredictionLog&) = delete;
  PredictionLog& operator=(const PredictionLog&) = delete;

  bool done(const std::string& id) const { return done_.count(id) > 0; }
  size_t size() const { return done_.size(); }
  // `extra` fields (e.g. timing, token counts) are written beside id and prediction.
  void append(const Prediction& prediction, const nlohmann::json& extra = nlohmann::json::object());

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::unordered_set<std::string> done_;
};

struct Reference {
  std::string id;
  std::vector<std::string> answers;
};
// {"id", "answers": [...]} per line (a converted dataset file qualifies).
std::vector<Reference> read_references(const std::string& path);

struct ScoredPredictions {
  std::vector<std::string> ids;             // in reference order
  std::vector<NamedScores> per_example;
  NamedScores aggregate;  // over the answered examples; with a "skipped" count when some were skipped
  size_t skipped = 0;
};
// Every reference needs a prediction (throws naming the first missing id);
// skipped ones are left out of the scores and counted; predictions for ids
// without a reference are ignored.
ScoredPredictions score_predictions(MetricKind kind, const std::vector<Reference>& references,
                                    const std::vector<Prediction>& predictions);

// One row of the results table: a method on a dataset and its aggregate scores.
struct MetricsRow {
  std::string method, dataset;
  NamedScores scores;
};
// Columns: method, dataset, then every score name in first-seen order; values
// with two decimals ("n" as an integer); a blank cell where a row lacks a score.
std::string metrics_markdown(const std::vector<MetricsRow>& rows);
nlohmann::ordered_json metrics_json(const std::vector<MetricsRow>& rows);
nlohmann::ordered_json scores_json(const NamedScores& scores);

// "[=========>          ] 120/281  42.7%  1.35 it/s  ETA 1m59s"; the rate
// counts only the items done in this run (`done_now` of them in `elapsed_s`).
std::string format_progress(size_t done, size_t total, size_t done_now, double elapsed_s);

// Redraws format_progress() on one terminal line of `out` (stderr by default).
class ProgressBar {
 public:
  ProgressBar(size_t total, size_t already_done, std::FILE* out = stderr);
  void advance(size_t n = 1);
  void finish();  // ends the line

 private:
  size_t total_, done_, done_now_ = 0;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace e2llm
