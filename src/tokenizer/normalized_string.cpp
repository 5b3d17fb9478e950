#include "tokenizer/normalized_string.h"

#include <algorithm>

namespace e2llm::text {

NormalizedString NormalizedString::from_original(std::string_view whole, size_t begin, size_t end) {
  NormalizedString s;
  s.text.assign(whole.substr(begin, end - begin));
  s.align.resize(s.text.size());
  for (size_t i = 0; i < s.text.size();) {
    size_t len = utf8_sequence_length(static_cast<unsigned char>(s.text[i]), 1);
    Span span{static_cast<uint32_t>(begin + i), static_cast<uint32_t>(begin + i + len)};
    std::fill_n(s.align.begin() + static_cast<ptrdiff_t>(i), len, span);
    i += len;
  }
  s.original = {static_cast<uint32_t>(begin), static_cast<uint32_t>(end)};
  return s;
}

NormalizedString NormalizedString::slice(size_t begin, size_t end) const {
  NormalizedString s;
  s.text.assign(text, begin, end - begin);
  s.align.assign(align.begin() + static_cast<ptrdiff_t>(begin), align.begin() + static_cast<ptrdiff_t>(end));
  s.original = original_span(begin, end);
  return s;
}

Span NormalizedString::original_span(size_t begin, size_t end) const {
  if (begin >= end) {
    // An empty range sits where the next byte came from (or at the piece end).
    uint32_t at = begin < align.size() ? align[begin].begin : original.end;
    return {at, at};
  }
  Span span{UINT32_MAX, 0};
  for (size_t i = begin; i < end; ++i) {
    span.begin = std::min(span.begin, align[i].begin);
    span.end = std::max(span.end, align[i].end);
  }
  return span;
}

}  // namespace e2llm::text
