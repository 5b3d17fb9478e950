// SQuAD v1.1 answer normalisation and token F1, multiple-choice letters,
// passkey and needle matching.
#include <algorithm>
#include <cctype>
#include <unordered_map>

#include <fmt/format.h>

#include "e2llm/core/strings.h"
#include "e2llm/eval/metrics.h"
#include "eval/unicode_text.h"

namespace e2llm {
namespace {

bool is_ascii_punctuation(char32_t c) { return c < 0x80 && std::ispunct(static_cast<int>(c)); }

bool is_article(std::u32string_view word) { return word == U"a" || word == U"an" || word == U"the"; }

// re.sub(r'\b(a|an|the)\b', ' ', text): a match is a whole run of word
// characters that spells an article.
std::u32string remove_articles(std::u32string_view text) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    if (!unicode::is_python_word(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    size_t start = i;
    while (i < text.size() && unicode::is_python_word(text[i])) ++i;
    std::u32string_view word = text.substr(start, i - start);
    if (is_article(word)) {
      out.push_back(U' ');
    } else {
      out.append(word);
    }
  }
  return out;
}

std::vector<std::string> normalized_tokens(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& w : unicode::python_split(decode_utf8(squad_normalize(text))))
    out.push_back(encode_utf8(w));
  return out;
}

// Answers lose leading and trailing spaces, tabs and line breaks.
std::string_view trim_answer(std::string_view s) { return trim(s, " \t\r\n"); }

bool is_letter_ad(char c) { return c >= 'A' && c <= 'D'; }

// "(B)", "B)", "B.", "B:" or a bare "B" at the very start; returns the
// marker's length, 0 when there is none.
size_t leading_choice_marker(std::string_view s) {
  if (s.size() >= 3 && s[0] == '(' && is_letter_ad(s[1]) && s[2] == ')') return 3;
  if (s.empty() || !is_letter_ad(s[0])) return 0;
  if (s.size() == 1) return 1;
  if (s[1] == ')' || s[1] == '.' || s[1] == ':') return 2;
  return 0;
}

char marker_letter(std::string_view s) { return s[0] == '(' ? s[1] : s[0]; }

std::string lowercase_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "answer is B", "answer: (B)", "Answer - B" ...
std::optional<char> letter_after_answer_word(std::string_view s) {
  std::string lower = lowercase_ascii(s);
  for (size_t at = lower.find("answer"); at != std::string::npos; at = lower.find("answer", at + 1)) {
    size_t i = at + 6;
    while (i < s.size() && (s[i] == ' ' || s[i] == ':' || s[i] == '-')) ++i;
    if (lower.compare(i, 3, "is ") == 0) i += 3;
    while (i < s.size() && s[i] == ' ') ++i;
    std::string_view rest = s.substr(std::min(i, s.size()));
    size_t marker = leading_choice_marker(rest);
    bool bare_word = rest.size() >= 2 && is_letter_ad(rest[0]) && !std::isalnum(static_cast<unsigned char>(rest[1]));
    if (marker || bare_word) return marker_letter(rest);
  }
  return std::nullopt;
}

}  // namespace

std::string squad_normalize(std::string_view text) {
  std::u32string lower = unicode::python_lower(decode_utf8(text));
  std::u32string no_punct;
  no_punct.reserve(lower.size());
  for (char32_t c : lower)
    if (!is_ascii_punctuation(c)) no_punct.push_back(c);
  std::string out;
  for (const auto& word : unicode::python_split(remove_articles(no_punct))) {
    if (!out.empty()) out.push_back(' ');
    out += encode_utf8(word);
  }
  return out;
}

QaScores qa_scores(std::string_view reference, std::string_view prediction) {
  QaScores s;
  s.exact_match = squad_normalize(prediction) == squad_normalize(reference) ? 1.0 : 0.0;
  auto pred = normalized_tokens(prediction);
  auto gold = normalized_tokens(reference);
  std::unordered_map<std::string, int64_t> gold_counts;
  for (const auto& t : gold) ++gold_counts[t];
  int64_t same = 0;
  for (const auto& t : pred) {
    auto it = gold_counts.find(t);
    if (it != gold_counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return s;
  s.precision = static_cast<double>(same) / static_cast<double>(pred.size());
  s.recall = static_cast<double>(same) / static_cast<double>(gold.size());
  s.f1 = (2 * s.precision * s.recall) / (s.precision + s.recall);
  return s;
}

QaScores qa_scores_max(const std::vector<std::string>& references, std::string_view prediction) {
  QaScores best;
  for (const auto& r : references) {
    QaScores s = qa_scores(r, prediction);
    best.precision = std::max(best.precision, s.precision);
    best.recall = std::max(best.recall, s.recall);
    best.f1 = std::max(best.f1, s.f1);
    best.exact_match = std::max(best.exact_match, s.exact_match);
  }
  return best;
}

std::optional<char> choice_letter(std::string_view answer) {
  std::string_view s = trim_answer(answer);
  if (size_t marker = leading_choice_marker(s)) return marker_letter(s.substr(0, marker));
  if (auto letter = letter_after_answer_word(s)) return letter;
  for (size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '(' && is_letter_ad(s[i + 1]) && s[i + 2] == ')') return s[i + 1];
  return std::nullopt;
}

std::string strip_choice_letter(std::string_view answer) {
  std::string_view s = trim_answer(answer);
  return std::string(trim_answer(s.substr(leading_choice_marker(s))));
}

bool passkey_correct(std::string_view reference, std::string_view prediction) {
  size_t begin = prediction.find_first_of("0123456789");
  if (begin == std::string_view::npos) return false;
  size_t end = prediction.find_first_not_of("0123456789", begin);
  return prediction.substr(begin, end == std::string_view::npos ? end : end - begin) == trim_answer(reference);
}

bool needle_correct(std::string_view reference, std::string_view prediction) {
  std::string needle = squad_normalize(reference);
  if (needle.empty()) return false;
  // Pad with spaces so that only whole words match.
  std::string haystack = fmt::format(" {} ", squad_normalize(prediction));
  return haystack.find(fmt::format(" {} ", needle)) != std::string::npos;
}

}  // namespace e2llm
