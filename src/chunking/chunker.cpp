// Chunker: one pass rates every gap between consecutive tokens (how good a
// cut there is), then each chunk looks back at most `chunk_size` gaps for the
// best one. Linear in the number of tokens.
#include "e2llm/chunking/chunker.h"

#include <algorithm>

#include "e2llm/core/error.h"
#include "e2llm/core/utf8.h"

namespace e2llm {
namespace {

// How good it is to cut before a token; higher is better.
enum CutLevel : uint8_t {
  kInsideChar = 0,  // spans overlap: the two tokens are pieces of one character
  kInsideWord = 1,
  kWord = 2,
  kLine = 3,       // a single line break that does not end a sentence
  kSentence = 4,
  kParagraph = 5,  // a blank line
};

// Code points come from decode_utf8_at(): invalid UTF-8 reads as one U+FFFD
// per byte, so any input is fine.
constexpr char32_t kInvalid = kReplacementCharacter;

// The code point that ends exactly at `pos` (pos > 0).
char32_t decode_before(std::string_view s, size_t pos) {
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && is_utf8_continuation(static_cast<unsigned char>(s[start]))) --start;
  size_t length = 0;
  char32_t cp = decode_utf8_at(s, start, length);
  return start + length == pos ? cp : kInvalid;
}

bool is_cjk(char32_t c) {
  return (c >= 0x3000 && c <= 0x30FF) ||    // CJK punctuation, kana
         (c >= 0x3400 && c <= 0x4DBF) ||    // CJK extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||    // CJK unified ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||    // compatibility ideographs
         (c >= 0xFF00 && c <= 0xFFEF) ||    // full-width forms
         (c >= 0x20000 && c <= 0x2FFFF);    // extensions B..
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 ||
         c == 0x3000 || (c >= 0x2000 && c <= 0x200B) || c == 0x2028 || c == 0x2029;
}

// Letters and digits of alphabetic scripts: runs of them form words.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == kInvalid || is_cjk(c) || is_space(c)) return false;
  return !(c >= 0x2000 && c <= 0x206F) && !(c >= 0x80 && c <= 0xBF);  // general/Latin-1 punctuation
}

// Characters that glue two word characters into one word: 3.14, don't, e-mail.
bool is_joiner(char32_t c) { return c == '.' || c == ',' || c == '\'' || c == '-' || c == 0x2019; }

bool is_sentence_end(char32_t c) {
  return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 ||
         c == 0xFF1F || c == 0xFF0E;
}

bool is_cjk_sentence_end(char32_t c) { return c == 0x3002 || c == 0xFF01 || c == 0xFF1F; }

bool is_closing(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201D || c == 0x2019 ||
         c == 0x300D || c == 0x300F || c == 0xFF09;
}

// Does the text ending at `pos` end a sentence (terminator, maybe closed by quotes)?
bool ends_sentence(std::string_view text, size_t pos, size_t floor) {
  for (int skipped = 0; pos > floor && skipped < 4; ++skipped) {
    char32_t c = decode_before(text, pos);
    if (is_sentence_end(c)) return true;
    if (!is_closing(c)) return false;
    while (pos > floor && is_utf8_continuation(static_cast<unsigned char>(text[pos - 1]))) --pos;
    --pos;
  }
  return false;
}

// Two tokens that touch: is the point between them inside a word?
bool touching_inside_word(std::string_view text, size_t pos) {
  size_t len = 0;
  char32_t before = decode_before(text, pos);
  char32_t after = decode_utf8_at(text, pos, len);
  if (is_word_char(before) && is_word_char(after)) return true;
  // A joiner between word characters: "3|.14" and "3.|14" are both inside.
  if (is_joiner(after) && is_word_char(before) && pos + len < text.size()) {
    size_t len2 = 0;
    return is_word_char(decode_utf8_at(text, pos + len, len2));
  }
  if (is_joiner(before) && is_word_char(after) && pos >= 2) {
    size_t back = pos - 1;
    while (back > 0 && is_utf8_continuation(static_cast<unsigned char>(text[back]))) --back;
    return back > 0 && is_word_char(decode_before(text, back));
  }
  return false;
}

CutLevel rate_gap(std::string_view text, const TokenSpan& prev, const TokenSpan& next) {
  if (next.begin < prev.end) return kInsideChar;
  std::string_view gap = text.substr(prev.end, next.begin - prev.end);
  bool sentence = ends_sentence(text, prev.end, prev.begin);
  size_t newlines = std::count(gap.begin(), gap.end(), '\n');
  if (newlines >= 2) return kParagraph;
  if (sentence && !gap.empty()) return kSentence;
  if (newlines == 1) return kLine;
  if (!gap.empty()) return kWord;
  if (prev.end > 0 && is_cjk_sentence_end(decode_before(text, prev.end))) return kSentence;
  if (next.begin < text.size() && touching_inside_word(text, next.begin)) return kInsideWord;
  return kWord;
}

void validate_spans(std::string_view text, const std::vector<TokenSpan>& spans) {
  for (size_t i = 0; i < spans.size(); ++i) {
    const TokenSpan& s = spans[i];
    E2LLM_CHECK(s.begin <= s.end && s.end <= text.size(),
                "chunker: token {} has span [{}, {}) outside the text of {} bytes", i, s.begin, s.end,
                text.size());
    E2LLM_CHECK(i == 0 || spans[i - 1].begin <= s.begin,
                "chunker: token {} starts at byte {}, before token {} (byte {}): spans must be in order",
                i, s.begin, i - 1, spans[i - 1].begin);
  }
}

// levels[i] rates a cut just before token i (levels[0] is unused).
std::vector<CutLevel> rate_all_gaps(std::string_view text, const std::vector<TokenSpan>& spans) {
  std::vector<CutLevel> levels(spans.size(), kParagraph);
  for (size_t i = 1; i < spans.size(); ++i) levels[i] = rate_gap(text, spans[i - 1], spans[i]);
  return levels;
}

// Latest cut in [lo, hi] at the highest level present there, or -1.
int64_t best_cut(const std::vector<CutLevel>& levels, int64_t lo, int64_t hi, CutLevel at_least) {
  int64_t best = -1;
  for (int64_t e = hi; e >= lo; --e) {
    if (levels[e] >= at_least && (best < 0 || levels[e] > levels[best])) best = e;
    if (best >= 0 && levels[best] == kParagraph) break;
  }
  return best;
}

// Latest cut in [lo, hi] of at least `at_least`, or -1.
int64_t latest_cut(const std::vector<CutLevel>& levels, int64_t lo, int64_t hi, CutLevel at_least) {
  for (int64_t e = hi; e >= lo; --e)
    if (levels[e] >= at_least) return e;
  return -1;
}

// End (exclusive token index) of the chunk that starts at token `start`.
int64_t choose_end(const std::vector<CutLevel>& levels, int64_t start, const ChunkerOptions& options) {
  const int64_t n = static_cast<int64_t>(levels.size());
  const int64_t limit = std::min(n, start + options.chunk_size);
  if (limit == n) return n;
  if (options.prefer_boundaries) {
    const int64_t half = start + std::max<int64_t>(1, options.chunk_size / 2);
    if (int64_t e = best_cut(levels, half, limit, kWord); e > start) return e;
  }
  if (int64_t e = latest_cut(levels, start + 1, limit, kWord); e > start) return e;
  // One word longer than the budget: cut it at token boundaries.
  if (int64_t e = latest_cut(levels, start + 1, limit, kInsideWord); e > start) return e;
  return limit;
}

// Start of the chunk after one spanning [start, end): `overlap` tokens back,
// moved forward to the next word start.
int64_t next_start(const std::vector<CutLevel>& levels, int64_t start, int64_t end, int64_t overlap) {
  int64_t t = std::max(end - overlap, start + 1);
  while (t < end && levels[t] < kWord) ++t;
  return t;
}

}  // namespace

std::vector<Chunk> chunk_text(std::string_view text, const std::vector<TokenSpan>& spans,
                              const ChunkerOptions& options) {
  E2LLM_CHECK(options.chunk_size >= 1, "chunker: chunk_size must be at least 1 token, got {}",
              options.chunk_size);
  E2LLM_CHECK(options.overlap >= 0 && options.overlap < options.chunk_size,
              "chunker: overlap must be in [0, chunk_size={}), got {}", options.chunk_size,
              options.overlap);
  validate_spans(text, spans);
  const std::vector<CutLevel> levels = rate_all_gaps(text, spans);
  const int64_t n = static_cast<int64_t>(spans.size());
  std::vector<Chunk> chunks;
  for (int64_t start = 0; start < n;) {
    const int64_t end = choose_end(levels, start, options);
    Chunk chunk;
    chunk.first_token = start;
    chunk.num_tokens = end - start;
    chunk.begin = spans[start].begin;
    for (int64_t i = start; i < end; ++i) chunk.end = std::max(chunk.end, spans[i].end);
    chunks.push_back(chunk);
    if (end == n) break;
    start = options.overlap > 0 ? next_start(levels, start, end, options.overlap) : end;
  }
  return chunks;
}

std::vector<Chunk> chunk_text(std::string_view text, const TokenSpanFn& token_spans,
                              const ChunkerOptions& options) {
  return chunk_text(text, token_spans(text), options);
}

std::vector<TokenSpan> simple_token_spans(std::string_view text) {
  std::vector<TokenSpan> spans;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    char32_t c = decode_utf8_at(text, pos, len);
    if (is_space(c)) {
      pos += len;
      continue;
    }
    TokenSpan span{pos, pos + len};
    if (is_word_char(c)) {
      while (span.end < text.size()) {
        size_t next_len = 0;
        if (!is_word_char(decode_utf8_at(text, span.end, next_len))) break;
        span.end += next_len;
      }
    }
    spans.push_back(span);
    pos = span.end;
  }
  return spans;
}

}  // namespace e2llm
