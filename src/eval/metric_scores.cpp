// Per-example scores by metric family, and their aggregate (mean x 100).
#include <cmath>

#include "e2llm/core/error.h"
#include "e2llm/eval/metrics.h"

namespace e2llm {
namespace {

void add_prf(NamedScores& out, const std::string& name, const PRF& prf) {
  out.emplace_back(name + "_p", prf.precision);
  out.emplace_back(name + "_r", prf.recall);
  out.emplace_back(name + "_f", prf.f);
}

double as_score(bool ok) { return ok ? 1.0 : 0.0; }

NamedScores choice_scores(const std::vector<std::string>& references, std::string_view prediction) {
  std::optional<char> predicted = choice_letter(prediction);
  std::string predicted_text = squad_normalize(strip_choice_letter(prediction));
  bool letter_ok = false, text_ok = false;
  for (const auto& r : references) {
    std::optional<char> gold = choice_letter(r);
    letter_ok |= predicted && gold && *predicted == *gold;
    text_ok |= predicted_text == squad_normalize(strip_choice_letter(r));
  }
  return {{"accuracy", as_score(letter_ok)}, {"option_text_em", as_score(text_ok)}};
}

template <typename Match>
NamedScores any_reference(const std::vector<std::string>& references, std::string_view prediction, Match match) {
  bool ok = false;
  for (const auto& r : references) ok |= match(r, prediction);
  return {{"accuracy", as_score(ok)}};
}

double mean_of(const std::vector<NamedScores>& rows, size_t column) {
  double sum = 0;
  for (const auto& row : rows) sum += row[column].second;
  return sum / static_cast<double>(rows.size());
}

double value_of(const NamedScores& scores, std::string_view name) {
  for (const auto& [n, v] : scores)
    if (n == name) return v;
  fail("internal: no score named '{}'", name);
}

}  // namespace

MetricKind parse_metric_kind(std::string_view name) {
  for (MetricKind k : {MetricKind::rouge, MetricKind::qa, MetricKind::choice, MetricKind::passkey, MetricKind::needle})
    if (metric_kind_name(k) == name) return k;
  fail("unknown metric '{}' (expected rouge, qa, choice, passkey or needle)", name);
}

std::string_view metric_kind_name(MetricKind kind) {
  switch (kind) {
    case MetricKind::rouge: return "rouge";
    case MetricKind::qa: return "qa";
    case MetricKind::choice: return "choice";
    case MetricKind::passkey: return "passkey";
    case MetricKind::needle: return "needle";
  }
  return "?";
}

NamedScores score_example(MetricKind kind, const std::vector<std::string>& references, std::string_view prediction) {
  NamedScores out;
  switch (kind) {
    case MetricKind::rouge: {
      RougeScores s = rouge_max(references, prediction);
      add_prf(out, "rouge1", s.rouge1);
      add_prf(out, "rouge2", s.rouge2);
      add_prf(out, "rougeL", s.rougeL);
      add_prf(out, "rougeLsum", s.rougeLsum);
      return out;
    }
    case MetricKind::qa: {
      QaScores s = qa_scores_max(references, prediction);
      return {{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"exact_match", s.exact_match}};
    }
    case MetricKind::choice: return choice_scores(references, prediction);
    case MetricKind::passkey: return any_reference(references, prediction, passkey_correct);
    case MetricKind::needle: return any_reference(references, prediction, needle_correct);
  }
  return out;
}

NamedScores aggregate_scores(MetricKind kind, const std::vector<NamedScores>& per_example) {
  NamedScores out{{"n", static_cast<double>(per_example.size())}};
  if (per_example.empty()) return out;
  const NamedScores& first = per_example.front();
  for (size_t c = 0; c < first.size(); ++c) out.emplace_back(first[c].first, 100.0 * mean_of(per_example, c));
  if (kind == MetricKind::rouge) {
    double product = value_of(out, "rouge1_f") * value_of(out, "rouge2_f") * value_of(out, "rougeL_f");
    out.emplace_back("rouge_geo_mean", std::cbrt(product));
  }
  return out;
}

}  // namespace e2llm
