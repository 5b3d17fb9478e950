// The full / truncate / RAG baselines on a decoder LLM (see
// include/e2llm/eval/baselines.h for the prompt layout and the budget).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "e2llm/eval/baselines.h"
#include "e2llm/generate/chat_template.h"
#include "e2llm/decoder/decoder.h"
#include "e2llm/core/error.h"
#include "e2llm/generate/generate.h"
#include "e2llm/core/runtime.h"
#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm {
namespace {

constexpr int64_t kDefaultMaxWindow = 2048;
// Between the head and the tail kept by truncate, and between RAG chunks.
constexpr std::string_view kTruncationMarker = "\n[...]\n";
constexpr std::string_view kChunkSeparator = "\n\n";
// Between the context and the prompt in the user turn.
constexpr std::string_view kContextPromptSeparator = "\n\n";

class DecoderBaseline : public Method {
 public:
  explicit DecoderBaseline(const BaselineOptions& options) : o_(options) {
    E2LLM_CHECK(o_.max_new_tokens > 0, "--max-new-tokens must be positive");
    E2LLM_CHECK(o_.system.empty() || o_.chat, "--system needs --chat");
    lm_ = load_causal_lm(o_.model, decoder_options_for(o_.weights, o_.model, parse_device(o_.device)));
    E2LLM_CHECK(!lm_->tokenizer_path().empty(), "{}: no tokenizer beside the model", o_.model);
    tokenizer_ = Tokenizer::from_file(lm_->tokenizer_path());
    const int64_t model_window = lm_->config().context_window();
    window_ = o_.window > 0 ? o_.window : std::min(model_window, kDefaultMaxWindow);
    E2LLM_CHECK(window_ <= model_window, "--window {} is more than the model's {} positions", window_, model_window);
    E2LLM_CHECK(o_.max_new_tokens < window_, "--max-new-tokens {} leaves no room in a window of {}", o_.max_new_tokens,
                window_);
    if (o_.chat) chat_ = chat_template_for_decoder(o_.model, lm_->model_dir(), *tokenizer_, o_.chat_template);
    marker_tokens_ = tokenizer_->encode(kTruncationMarker, false).size();
    separator_tokens_ = tokenizer_->encode(kChunkSeparator, false).size();
    prompts_ = std::make_unique<PromptPrefixCache>(*lm_);
  }

  // The prompt layout: "<context>\n\n<prompt>" as the user turn of the chat
  // template (with the assistant's opening), or as plain text with the
  // tokenizer's special tokens.
  std::vector<int64_t> prompt_ids(std::string_view context, const std::string& prompt) const {
    std::string user;
    user.append(context).append(kContextPromptSeparator).append(prompt);
    if (!chat_) return tokenizer_->encode(user, /*add_special_tokens=*/true).ids;
    return chat_prompt_ids(*chat_, *tokenizer_, o_.system, std::move(user));
  }

  MethodAnswer answer(const Example& ex) override {
    torch::InferenceMode inference;
    const Encoding context = tokenizer_->encode(ex.context, false);
    const size_t n = context.size();
    const size_t limit = static_cast<size_t>(window_ - o_.max_new_tokens);  // prompt tokens allowed
    const size_t overhead = prompt_ids("", ex.prompt).size();
    E2LLM_CHECK(overhead < limit,
                "example '{}': the prompt alone takes {} tokens; window {} - {} new tokens leaves {}", ex.id,
                overhead, window_, o_.max_new_tokens, limit);
    size_t budget = limit - overhead;

    std::vector<int64_t> ids;
    nlohmann::json info = {{"method", to_string(o_.kind)}, {"context_tokens", n}};
    for (int attempt = 0;; ++attempt) {
      std::string text;
      switch (o_.kind) {
        case BaselineKind::full:
          if (n > budget) {  // full context answers only where the text fits; the table counts the rest
            return {"", std::move(info),
                    fmt::format("the context has {} tokens but only {} fit (window {} - {} new tokens - {} prompt "
                                "tokens)",
                                n, budget, window_, o_.max_new_tokens, overhead)};
          }
          text = ex.context;
          info["kept_tokens"] = n;
          break;
        case BaselineKind::truncate: text = truncate(ex.context, context, budget, info); break;
        case BaselineKind::rag: text = retrieve(ex, context, budget, info); break;
      }
      ids = prompt_ids(text, ex.prompt);
      if (ids.size() <= limit) break;
      // Tokens merged differently at the cut points: shrink and try again.
      const size_t excess = ids.size() - limit;
      E2LLM_CHECK(attempt < 8 && budget > excess, "example '{}': cannot fit the prompt in the window", ex.id);
      budget -= excess;
    }

    GenerateOptions g;
    g.stop.max_new_tokens = o_.max_new_tokens;
    g.stop.ignore_eos = o_.ignore_eos;
    g.sampling = o_.sampling;
    // A document's questions follow one another (QMSum, QuALITY): what their
    // prompts share before the question is prefilled once, as E2LLM reads a
    // document once.
    GenerateResult r = prompts_->generate(*tokenizer_, ids, g);
    info["prompt_tokens"] = ids.size();
    info["reused_tokens"] = prompts_->reused_tokens();
    info["new_tokens"] = r.ids.size();
    info["prefill_s"] = r.prefill_seconds;
    info["decode_s"] = r.decode_seconds;
    return {r.text, std::move(info)};
  }

 private:
  // Head and tail at token boundaries of the context's own encoding.
  std::string truncate(const std::string& text, const Encoding& context, size_t budget, nlohmann::json& info) const {
    const size_t n = context.size();
    HeadTail s = head_tail_split(n, budget);
    if (s.truncated) s = head_tail_split(n, budget > marker_tokens_ ? budget - marker_tokens_ : 0);
    info["kept_tokens"] = s.head + s.tail;
    if (!s.truncated) return text;
    const size_t head_end = s.head ? context.byte_offsets[s.head - 1].second : 0;
    const size_t tail_begin = s.tail ? context.byte_offsets[n - s.tail].first : text.size();
    std::string out = text.substr(0, head_end);
    out.append(kTruncationMarker);
    out.append(text, std::max(tail_begin, head_end));
    return out;
  }

  std::string retrieve(const Example& ex, const Encoding& context, size_t budget, nlohmann::json& info) const {
    std::vector<TokenSpan> spans;
    spans.reserve(context.size());
    for (const auto& [begin, end] : context.byte_offsets) spans.push_back({begin, end});
    RagOptions rag = o_.rag;
    rag.separator_tokens = separator_tokens_;
    RagSelection sel = rag_select(ex.context, spans, ex.prompt, budget, rag);
    info["kept_tokens"] = sel.selected_tokens;
    info["chunks"] = sel.chunks.size();
    info["bm25_hits"] = sel.ranked.size();
    info["selected"] = sel.selected;
    return join_selected(ex.context, sel, kChunkSeparator);
  }

  BaselineOptions o_;
  CausalLM lm_;
  std::unique_ptr<PromptPrefixCache> prompts_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_;
  int64_t window_ = 0;
  size_t marker_tokens_ = 0, separator_tokens_ = 0;
};

}  // namespace

std::unique_ptr<Method> make_baseline_method(const BaselineOptions& options) {
  return std::make_unique<DecoderBaseline>(options);
}

}  // namespace e2llm
