#include "eval/unicode_text.h"

#include <algorithm>

#include "eval/unicode_tables.h"

namespace e2llm::unicode {
namespace {

using unicode_tables::CodeRange;

bool in_ranges(const CodeRange* ranges, size_t size, char32_t c) {
  const CodeRange* end = ranges + size;
  const CodeRange* it = std::upper_bound(ranges, end, static_cast<uint32_t>(c),
                                         [](uint32_t v, const CodeRange& r) { return v < r.first; });
  return it != ranges && c <= (it - 1)->last;
}

bool is_case_ignorable(char32_t c) {
  return in_ranges(unicode_tables::kCaseIgnorable, unicode_tables::kCaseIgnorable_size, c);
}
bool is_cased(char32_t c) { return in_ranges(unicode_tables::kCased, unicode_tables::kCased_size, c); }

// CPython's handle_capital_sigma: U+03A3 lowers to final sigma when a cased
// letter precedes it and none follows (case-ignorable characters skipped).
char32_t lower_capital_sigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(text[j - 1])) --j;
  bool final_sigma = j > 0 && is_cased(text[j - 1]);
  if (final_sigma) {
    size_t k = i + 1;
    while (k < text.size() && is_case_ignorable(text[k])) ++k;
    final_sigma = k == text.size() || !is_cased(text[k]);
  }
  return final_sigma ? U'\u03C2' : U'\u03C3';
}

}  // namespace

std::u32string python_lower(std::u32string_view text) {
  using unicode_tables::kLower;
  const auto* end = kLower + unicode_tables::kLower_size;
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c >= U'A' && c <= U'Z') {
      out.push_back(c + 32);
    } else if (c < 0x80) {
      out.push_back(c);
    } else if (c == U'\u03A3') {
      out.push_back(lower_capital_sigma(text, i));
    } else {
      const auto* it = std::lower_bound(kLower, end, static_cast<uint32_t>(c),
                                        [](const auto& m, uint32_t v) { return m.code_point < v; });
      if (it == end || it->code_point != c) {
        out.push_back(c);
        continue;
      }
      out.push_back(it->first);
      if (it->second) out.push_back(it->second);
    }
  }
  return out;
}

bool is_python_space(char32_t c) {
  return in_ranges(unicode_tables::kSpace, unicode_tables::kSpace_size, c);
}

bool is_python_word(char32_t c) {
  return in_ranges(unicode_tables::kWord, unicode_tables::kWord_size, c);
}

std::vector<std::u32string> python_split(std::u32string_view text) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_python_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_python_space(text[i])) ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace e2llm::unicode
