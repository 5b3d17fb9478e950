// Splits a long text into chunks of at most `chunk_size` encoder tokens, for
// E2LLM's encoder. Pure text work, no torch.
//
// The chunker does not tokenize by itself: it is given the byte span of every
// token of the whole text (what a tokenizer's offsets say) and picks cut
// points between tokens. So the text is tokenized once, the budget is exact,
// and a caller can slice the chunk's token ids out of that one encoding.
//
// Where it cuts, best first: a blank line (paragraph), a sentence end
// (. ! ? and CJK 。！？), a line break, any gap between words. Paragraph,
// sentence and line cuts are taken only when the chunk stays at least half
// full, so one early blank line does not produce a tiny chunk. It never cuts
// inside a word: the single exception is a word with more tokens than the
// whole budget, which is cut at token boundaries into budget-sized pieces
// (never inside one UTF-8 character when the spans allow it). CJK text has no
// spaces: every CJK character counts as a word of its own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace e2llm {

class Tokenizer;

// Byte offsets [begin, end) of one token in the text.
struct TokenSpan {
  size_t begin = 0;
  size_t end = 0;
};

// The spans of the content tokens of `text` (no special tokens such as
// [CLS]/[SEP]), in order: begins non-decreasing, each span inside the text.
using TokenSpanFn = std::function<std::vector<TokenSpan>(std::string_view text)>;

struct ChunkerOptions {
  // Token budget of one chunk, EXCLUDING the encoder's special tokens: with a
  // BERT encoder of 512 positions use 510 ([CLS] and [SEP] are added later).
  int64_t chunk_size = 512;
  // Tokens repeated from the end of a chunk at the start of the next one.
  // The next chunk starts at the first word boundary at or after that point,
  // so the overlap never exceeds this and equals it when that is a word start.
  int64_t overlap = 0;
  // false: fill every chunk to the budget, cutting at any word gap.
  bool prefer_boundaries = true;
};

struct Chunk {
  size_t begin = 0;          // byte offset of the first token in the text
  size_t end = 0;            // byte offset just past the last token
  int64_t first_token = 0;   // index into the spans the chunker was given
  int64_t num_tokens = 0;
  std::string_view text(std::string_view full_text) const {
    return full_text.substr(begin, end - begin);
  }
};

// Chunks covering every token of the text, in order. Empty text (or text
// with no tokens) gives no chunks. Throws e2llm::Error for options out of
// range or spans that are out of bounds or out of order.
std::vector<Chunk> chunk_text(std::string_view text, const std::vector<TokenSpan>& spans,
                              const ChunkerOptions& options = {});
std::vector<Chunk> chunk_text(std::string_view text, const TokenSpanFn& token_spans,
                              const ChunkerOptions& options = {});

// A tokenizer-free span function: each run of letters/digits is a token,
// each other visible character (punctuation, every CJK character) is one.
// For tests and for budgets measured in words rather than encoder tokens.
std::vector<TokenSpan> simple_token_spans(std::string_view text);

}  // namespace e2llm
