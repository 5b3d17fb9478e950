// Predictions JSONL: reading, resumable appending, scoring against references.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "e2llm/data/datasets.h"
#include "e2llm/core/error.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/io/fs.h"
#include "io/json_fields.h"

namespace e2llm {
namespace {

// The bytes of `text` up to its last newline: a final unterminated line is
// where a killed writer stopped.
size_t complete_prefix(const std::string& text) {
  size_t last = text.rfind('\n');
  return last == std::string::npos ? 0 : last + 1;
}

std::vector<Prediction> parse_predictions(const std::string& text, const std::string& path) {
  std::vector<Prediction> out;
  std::unordered_set<std::string> seen;
  size_t line_number = 0, start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto j = nlohmann::json::parse(line);
      Prediction p{json_fields::id_field(j, "id"), json_fields::string_field(j, "prediction")};
      if (j.contains("skipped")) p.skipped = json_fields::string_field(j, "skipped");
      E2LLM_CHECK(seen.insert(p.id).second, "id '{}' appears twice", p.id);
      out.push_back(std::move(p));
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: {}", path, line_number, e.what());
    } catch (const Error& e) {
      fail("{}:{}: {}", path, line_number, e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<Prediction> read_predictions(const std::string& path) {
  std::string text = read_text_file(path);
  return parse_predictions(text.substr(0, complete_prefix(text)), path);
}

PredictionLog::PredictionLog(std::string path) : path_(std::move(path)) {
  if (file_exists(path_)) {
    std::string text = read_text_file(path_);
    size_t keep = complete_prefix(text);
    for (auto& p : parse_predictions(text.substr(0, keep), path_)) done_.insert(std::move(p.id));
    if (keep < text.size()) std::filesystem::resize_file(path_, keep);  // drop the torn line
  }
  file_ = std::fopen(path_.c_str(), "ab");
  E2LLM_CHECK(file_, "{}: cannot open for appending: {}", path_, std::strerror(errno));
}

PredictionLog::~PredictionLog() {
  if (file_) std::fclose(file_);
}

void PredictionLog::append(const Prediction& p, const nlohmann::json& extra) {
  E2LLM_CHECK(!done(p.id), "{}: id '{}' already has a prediction", path_, p.id);
  nlohmann::ordered_json j = {{"id", p.id}, {"prediction", p.prediction}};
  if (!p.skipped.empty()) j["skipped"] = p.skipped;
  for (const auto& [key, value] : extra.items()) j[key] = value;
  std::string line = j.dump() + "\n";
  bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  E2LLM_CHECK(ok, "{}: write failed: {}", path_, std::strerror(errno));
  ::fdatasync(::fileno(file_));
  done_.insert(p.id);
}

std::vector<Reference> read_references(const std::string& path) {
  std::vector<Reference> out;
  auto errors = for_each_jsonl_line(path, [&](const nlohmann::json& j, size_t) {
    out.push_back({json_fields::id_field(j, "id"), json_fields::string_array_field(j, "answers")});
  });
  E2LLM_CHECK(errors.empty(), "{}", errors.empty() ? "" : errors.front());
  return out;
}

ScoredPredictions score_predictions(MetricKind kind, const std::vector<Reference>& references,
                                    const std::vector<Prediction>& predictions) {
  std::unordered_map<std::string, const Prediction*> by_id;
  for (const auto& p : predictions) by_id[p.id] = &p;
  ScoredPredictions out;
  for (const auto& r : references) {
    auto it = by_id.find(r.id);
    E2LLM_CHECK(it != by_id.end(), "no prediction for id '{}'", r.id);
    if (!it->second->skipped.empty()) {
      ++out.skipped;
      continue;
    }
    out.ids.push_back(r.id);
    out.per_example.push_back(score_example(kind, r.answers, it->second->prediction));
  }
  out.aggregate = aggregate_scores(kind, out.per_example);
  if (out.skipped > 0) out.aggregate.emplace_back("skipped", static_cast<double>(out.skipped));
  return out;
}

}  // namespace e2llm
