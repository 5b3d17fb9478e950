// A piece of text being tokenized, with the original byte span every byte came
// from, so token offsets can be mapped back to the caller's text. Characters a
// normalizer produces from one original character (lowercasing, decomposition,
// the spaces BERT puts around CJK, a prepended "▁") all map to that character's
// span, which is what Hugging Face's alignment tracking yields.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/unicode.h"

namespace e2llm::text {

struct Span {
  uint32_t begin = 0, end = 0;
};

struct NormalizedString {
  std::string text;
  std::vector<Span> align;  // one entry per byte of `text`
  Span original;            // the original span this piece stands for

  // The bytes [begin, end) of `whole` (the caller's text), unchanged.
  static NormalizedString from_original(std::string_view whole, size_t begin, size_t end);

  bool empty() const { return text.empty(); }
  // Bytes [begin, end) of this piece as a new piece.
  NormalizedString slice(size_t begin, size_t end) const;
  // Original span covered by normalized bytes [begin, end).
  Span original_span(size_t begin, size_t end) const;

  // Rewrites every character: `fn(c, out)` appends its replacement (nothing to
  // delete it); the appended bytes map to c's original span.
  template <typename Fn>
  void map_chars(Fn&& fn) {
    std::string out;
    std::vector<Span> out_align;
    out.reserve(text.size());
    out_align.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      size_t len;
      char32_t c = decode_utf8_valid(text.data() + i, len);
      size_t before = out.size();
      fn(c, out);
      out_align.insert(out_align.end(), out.size() - before, align[i]);
      i += len;
    }
    text = std::move(out);
    align = std::move(out_align);
  }
};

}  // namespace e2llm::text
