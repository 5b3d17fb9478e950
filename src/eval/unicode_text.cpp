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

// Length of the UTF-8 sequence starting with `lead`, 0 when `lead` cannot start one.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    auto lead = static_cast<unsigned char>(text[i]);
    size_t len = sequence_length(lead);
    char32_t c = len == 1 ? lead : len == 2 ? (lead & 0x1F) : len == 3 ? (lead & 0x0F) : (lead & 0x07);
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto cont = static_cast<unsigned char>(text[i + k]);
      ok = (cont & 0xC0) == 0x80;
      c = (c << 6) | (cont & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    ok = ok && !(len == 3 && c < 0x800) && !(len == 4 && (c < 0x10000 || c > 0x10FFFF)) &&
         !(c >= 0xD800 && c < 0xE000);
    if (!ok) {
      out.push_back(U'\uFFFD');
      ++i;
      continue;
    }
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

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
