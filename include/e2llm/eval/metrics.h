// Evaluation metrics, equal to the reference implementations the field uses
// (definitions in ../shared/README.md, parity tests in tests/unit/test_metrics.cpp):
//  - ROUGE-1/2/L/Lsum as Google's rouge-score 0.1.2 computes them (default
//    tokenizer, no stemmer; several references: RougeScorer.score_multi, i.e.
//    per ROUGE type the reference with the highest F, first on ties);
//  - QA precision/recall/F1/exact match with the SQuAD v1.1 normalisation,
//    each the max over the references on its own (metric_max_over_ground_truths);
//  - QuALITY option-letter accuracy; passkey and needle accuracy.
// Text semantics (lowercasing, \b, whitespace) follow Python 3.11 exactly.
// All values are fractions in [0, 1]; aggregate_scores() turns them into
// means x 100.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e2llm {

struct PRF {
  double precision = 0, recall = 0, f = 0;
};

// rouge_score.tokenize.tokenize(text, stemmer=None).
std::vector<std::string> rouge_tokenize(std::string_view text);

struct RougeScores {
  PRF rouge1, rouge2, rougeL, rougeLsum;
};
// rouge_scorer.RougeScorer(...).score(target=reference, prediction).
RougeScores rouge(std::string_view reference, std::string_view prediction);
// RougeScorer.score_multi: all zeros when `references` is empty.
RougeScores rouge_max(const std::vector<std::string>& references, std::string_view prediction);

// SQuAD v1.1 normalize_answer: lower, drop ASCII punctuation, drop the words
// a/an/the, collapse whitespace.
std::string squad_normalize(std::string_view text);

struct QaScores {
  double precision = 0, recall = 0, f1 = 0, exact_match = 0;
};
QaScores qa_scores(std::string_view reference, std::string_view prediction);
QaScores qa_scores_max(const std::vector<std::string>& references, std::string_view prediction);

// The option letter (A-D) a multiple-choice answer names: "(B)", "B", "B) ...",
// "B. ...", "Answer: B", "the answer is (B)". nullopt when none is named.
std::optional<char> choice_letter(std::string_view answer);
// The option text with a leading "(B)"/"B)"/"B." marker removed.
std::string strip_choice_letter(std::string_view answer);

// Passkey: the first run of digits in the prediction equals the answer.
bool passkey_correct(std::string_view reference, std::string_view prediction);
// Needle: the SQuAD-normalised prediction contains the normalised answer.
bool needle_correct(std::string_view reference, std::string_view prediction);

// ---- per-example scores and their aggregate, by metric family ----------------

enum class MetricKind { rouge, qa, choice, passkey, needle };
MetricKind parse_metric_kind(std::string_view name);  // throws e2llm::Error
std::string_view metric_kind_name(MetricKind kind);

// Named values in a fixed order (e.g. rouge1_p, rouge1_r, rouge1_f, ...).
using NamedScores = std::vector<std::pair<std::string, double>>;

NamedScores score_example(MetricKind kind, const std::vector<std::string>& references,
                          std::string_view prediction);

// Mean of every named value x 100, plus "n" (the example count) and, for
// ROUGE, "rouge_geo_mean" = cbrt(R1_F * R2_F * RL_F) of those means (SCROLLS).
NamedScores aggregate_scores(MetricKind kind, const std::vector<NamedScores>& per_example);

}  // namespace e2llm
