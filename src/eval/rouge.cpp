// ROUGE exactly as Google's rouge-score 0.1.2 (rouge_scorer.py, tokenize.py)
// computes it with the default tokenizer and no stemmer.
#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "e2llm/eval/metrics.h"
#include "eval/unicode_text.h"

namespace e2llm {
namespace {

using TokenIds = std::vector<uint32_t>;

bool is_rouge_char(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'0' && c <= U'9'); }

// scoring.fmeasure
double fmeasure(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

PRF make_prf(double precision, double recall) { return {precision, recall, fmeasure(precision, recall)}; }

// Interns tokens so that n-grams and LCS compare integers.
class Vocabulary {
 public:
  TokenIds ids(const std::vector<std::string>& tokens) {
    TokenIds out;
    out.reserve(tokens.size());
    for (const auto& t : tokens) out.push_back(ids_.try_emplace(t, static_cast<uint32_t>(ids_.size())).first->second);
    return out;
  }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
};

std::unordered_map<uint64_t, int64_t> ngram_counts(const TokenIds& tokens, size_t n) {
  std::unordered_map<uint64_t, int64_t> counts;
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    uint64_t key = n == 1 ? tokens[i] : (uint64_t{tokens[i]} << 32) | tokens[i + 1];
    ++counts[key];
  }
  return counts;
}

// _score_ngrams (n = 1 or 2).
PRF score_ngrams(const TokenIds& target, const TokenIds& prediction, size_t n) {
  auto target_counts = ngram_counts(target, n);
  auto prediction_counts = ngram_counts(prediction, n);
  int64_t overlap = 0, target_total = 0, prediction_total = 0;
  for (const auto& [key, count] : target_counts) {
    auto it = prediction_counts.find(key);
    if (it != prediction_counts.end()) overlap += std::min(count, it->second);
    target_total += count;
  }
  for (const auto& [key, count] : prediction_counts) prediction_total += count;
  return make_prf(static_cast<double>(overlap) / static_cast<double>(std::max<int64_t>(prediction_total, 1)),
                  static_cast<double>(overlap) / static_cast<double>(std::max<int64_t>(target_total, 1)));
}

// _lcs_table: (rows+1) x (cols+1), row-major.
std::vector<int32_t> lcs_table(const TokenIds& ref, const TokenIds& can) {
  const size_t cols = can.size() + 1;
  std::vector<int32_t> t((ref.size() + 1) * cols, 0);
  for (size_t i = 1; i <= ref.size(); ++i) {
    for (size_t j = 1; j <= can.size(); ++j) {
      t[i * cols + j] = ref[i - 1] == can[j - 1] ? t[(i - 1) * cols + j - 1] + 1
                                                  : std::max(t[(i - 1) * cols + j], t[i * cols + j - 1]);
    }
  }
  return t;
}

// _score_lcs
PRF score_lcs(const TokenIds& target, const TokenIds& prediction) {
  if (target.empty() || prediction.empty()) return {};
  double lcs = lcs_table(target, prediction).back();
  return make_prf(lcs / static_cast<double>(prediction.size()), lcs / static_cast<double>(target.size()));
}

// lcs_ind + _backtrack_norec: the indices into `ref` of one LCS, with the
// reference's tie-breaking (it decides which tokens the union LCS holds).
std::vector<size_t> lcs_indices(const TokenIds& ref, const TokenIds& can) {
  auto t = lcs_table(ref, can);
  const size_t cols = can.size() + 1;
  std::vector<size_t> out;
  size_t i = ref.size(), j = can.size();
  while (i > 0 && j > 0) {
    if (ref[i - 1] == can[j - 1]) {
      out.push_back(i - 1);
      --i;
      --j;
    } else if (t[i * cols + j - 1] > t[(i - 1) * cols + j]) {
      --j;
    } else {
      --i;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// _summary_level_lcs: union LCS per reference sentence, no token counted twice.
PRF summary_level_lcs(const std::vector<TokenIds>& ref_sents, const std::vector<TokenIds>& can_sents) {
  if (ref_sents.empty() || can_sents.empty()) return {};
  std::unordered_map<uint32_t, int64_t> ref_counts, can_counts;
  size_t m = 0, n = 0;
  for (const auto& s : ref_sents) {
    m += s.size();
    for (uint32_t t : s) ++ref_counts[t];
  }
  for (const auto& s : can_sents) {
    n += s.size();
    for (uint32_t t : s) ++can_counts[t];
  }
  if (m == 0 || n == 0) return {};
  int64_t hits = 0;
  for (const auto& r : ref_sents) {
    std::vector<size_t> union_indices;
    for (const auto& c : can_sents) {
      auto idx = lcs_indices(r, c);
      union_indices.insert(union_indices.end(), idx.begin(), idx.end());
    }
    std::sort(union_indices.begin(), union_indices.end());
    union_indices.erase(std::unique(union_indices.begin(), union_indices.end()), union_indices.end());
    for (size_t i : union_indices) {
      uint32_t t = r[i];
      if (can_counts[t] > 0 && ref_counts[t] > 0) {
        ++hits;
        --can_counts[t];
        --ref_counts[t];
      }
    }
  }
  return make_prf(static_cast<double>(hits) / static_cast<double>(n), static_cast<double>(hits) / static_cast<double>(m));
}

// get_sents without split_summaries: non-empty lines.
std::vector<TokenIds> sentence_tokens(std::string_view text, Vocabulary& vocab) {
  std::vector<TokenIds> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(vocab.ids(rouge_tokenize(text.substr(start, end - start))));
    start = end + 1;
  }
  return out;
}

const PRF& field(const RougeScores& s, int type) {
  const PRF* fields[] = {&s.rouge1, &s.rouge2, &s.rougeL, &s.rougeLsum};
  return *fields[type];
}
PRF& field(RougeScores& s, int type) { return const_cast<PRF&>(field(std::as_const(s), type)); }

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::u32string lower = unicode::python_lower(decode_utf8(text));
  std::vector<std::string> tokens;
  std::string current;
  for (char32_t c : lower) {
    if (is_rouge_char(c)) {
      current.push_back(static_cast<char>(c));
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

RougeScores rouge(std::string_view reference, std::string_view prediction) {
  Vocabulary vocab;
  TokenIds target = vocab.ids(rouge_tokenize(reference));
  TokenIds pred = vocab.ids(rouge_tokenize(prediction));
  RougeScores s;
  s.rouge1 = score_ngrams(target, pred, 1);
  s.rouge2 = score_ngrams(target, pred, 2);
  s.rougeL = score_lcs(target, pred);
  s.rougeLsum = summary_level_lcs(sentence_tokens(reference, vocab), sentence_tokens(prediction, vocab));
  return s;
}

RougeScores rouge_max(const std::vector<std::string>& references, std::string_view prediction) {
  std::vector<RougeScores> all;
  all.reserve(references.size());
  for (const auto& r : references) all.push_back(rouge(r, prediction));
  RougeScores best;
  for (int type = 0; type < 4; ++type) {
    const RougeScores* winner = nullptr;  // numpy argmax: the first maximum
    for (const auto& s : all)
      if (!winner || field(s, type).f > field(*winner, type).f) winner = &s;
    if (winner) field(best, type) = field(*winner, type);
  }
  return best;
}

}  // namespace e2llm
