// The baselines E2LLM is compared with, all on the same decoder:
//   full      the whole context, when the prompt fits the decoder's window
//             (an example that does not fit is an error, never cut silently);
//   truncate  the head and the tail of the context, as many tokens as fit;
//   rag       the context cut into chunks (chunker.h), ranked for the query
//             by SQLite FTS5's bm25 (retrieval.h), the best ones that fit
//             placed in the prompt in document order.
//
// Prompt layout (the same for every method, see DecoderBaseline::prompt_text):
//   user turn = "<context>\n\n<prompt>"
// inside the model's chat template (user turn + assistant opening) with
// --chat, or as plain text (with the tokenizer's special tokens) without.
// The context budget, in the decoder's own tokens, is
//   window - max_new_tokens - tokens of the layout with an empty context,
// and the final prompt is measured again after assembly (token merges at the
// cut points can change the count by a token or two; the budget shrinks until
// it fits).
//
// The selection functions below are pure (no model); the Method factory is in
// evaluator.h's terms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "e2llm/chunking/chunker.h"
#include "e2llm/eval/evaluator.h"
#include "e2llm/eval/retrieval.h"
#include "e2llm/generate/sampling.h"

namespace e2llm {

// How many of `total` tokens the head and the tail keep when only `budget`
// fit: everything when total <= budget; otherwise head = ceil(budget / 2),
// tail = budget - head.
struct HeadTail {
  size_t head = 0, tail = 0;
  bool truncated = false;
};
HeadTail head_tail_split(size_t total, size_t budget);

// The first head and the last tail ids of `ids` (head_tail_split), in order;
// exactly min(ids.size(), budget) ids.
std::vector<int64_t> truncate_head_tail(const std::vector<int64_t>& ids, size_t budget);

struct RagOptions {
  ChunkerOptions chunker{256, 0, true};  // chunk size in the spans' tokens
  // Tokens added per selected chunk (the separator placed between chunks).
  size_t separator_tokens = 0;
  // After the chunks that share a word with the query (best bm25 first), take
  // the others in document order while they fit, so a query with no match
  // (e.g. "Summarize the whole meeting.") still fills the window.
  bool fill_with_unmatched = true;
};

struct RagSelection {
  std::vector<Chunk> chunks;           // every chunk of the context
  std::vector<RankedChunk> ranked;     // bm25 hits, best first
  std::vector<size_t> selected;        // indices into chunks, document order
  size_t selected_tokens = 0;          // sum of the selected chunks' token counts
};

// Chunks `context` at the token `spans` (e.g. the decoder tokenizer's byte
// offsets, or simple_token_spans()), ranks them for `query` and keeps the
// best that fit in `budget` tokens (each chunk costs num_tokens +
// separator_tokens).
RagSelection rag_select(std::string_view context, const std::vector<TokenSpan>& spans, std::string_view query,
                        size_t budget, const RagOptions& options = {});

// The selected chunks' text joined by `separator`.
std::string join_selected(std::string_view context, const RagSelection& selection, std::string_view separator);

enum class BaselineKind { full, truncate, rag };
BaselineKind parse_baseline_kind(std::string_view name);  // throws naming the choices
const char* to_string(BaselineKind kind);

struct BaselineOptions {
  BaselineKind kind = BaselineKind::truncate;
  std::string model;              // decoder: Hugging Face folder or .gguf
  std::string weights = "auto";   // decoder_options_for(): auto, quantized, float32, bfloat16
  std::string device = "cpu";     // parse_device()
  int64_t window = 0;             // 0 = min(DecoderConfig::context_window(), 2048)
  int64_t max_new_tokens = 100;
  bool ignore_eos = false;        // max_new_tokens tokens, the window permitting (benchmarks)
  SamplingConfig sampling;        // greedy; repetition penalty / no-repeat n-gram over the whole prompt
  bool chat = false;              // wrap in the model's chat template
  std::string chat_template;      // override the detected format ("" = detect)
  std::string system;             // system message (with chat)
  RagOptions rag;
};

// Loads the decoder and its tokenizer; throws e2llm::Error on bad options.
std::unique_ptr<Method> make_baseline_method(const BaselineOptions& options);

}  // namespace e2llm
