// The model-free parts of the baselines: head+tail truncation and the RAG
// chunk selection (see include/e2llm/eval/baselines.h).
#include "e2llm/eval/baselines.h"

#include <algorithm>

#include "e2llm/core/error.h"

namespace e2llm {

HeadTail head_tail_split(size_t total, size_t budget) {
  if (total <= budget) return {total, 0, false};
  HeadTail s;
  s.head = (budget + 1) / 2;
  s.tail = budget - s.head;
  s.truncated = true;
  return s;
}

std::vector<int64_t> truncate_head_tail(const std::vector<int64_t>& ids, size_t budget) {
  HeadTail s = head_tail_split(ids.size(), budget);
  if (!s.truncated) return ids;
  std::vector<int64_t> out(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(s.head));
  out.insert(out.end(), ids.end() - static_cast<std::ptrdiff_t>(s.tail), ids.end());
  return out;
}

RagSelection rag_select(std::string_view context, const std::vector<TokenSpan>& spans, std::string_view query,
                        size_t budget, const RagOptions& options) {
  RagSelection r;
  r.chunks = chunk_text(context, spans, options.chunker);
  if (r.chunks.empty()) return r;
  std::vector<std::string> texts;
  texts.reserve(r.chunks.size());
  for (const Chunk& c : r.chunks) texts.emplace_back(c.text(context));
  Bm25Index index(texts);
  r.ranked = index.search(query, texts.size());

  std::vector<RankedChunk> order = r.ranked;
  if (options.fill_with_unmatched) {
    std::vector<bool> hit(r.chunks.size(), false);
    for (const RankedChunk& c : r.ranked) hit[c.index] = true;
    for (size_t i = 0; i < r.chunks.size(); ++i)
      if (!hit[i]) order.push_back({i, 0.0});
  }
  auto cost = [&](size_t i) { return static_cast<size_t>(r.chunks[i].num_tokens) + options.separator_tokens; };
  r.selected = select_within_budget(order, budget, cost);
  for (size_t i : r.selected) r.selected_tokens += static_cast<size_t>(r.chunks[i].num_tokens);
  return r;
}

std::string join_selected(std::string_view context, const RagSelection& selection, std::string_view separator) {
  std::string out;
  for (size_t k = 0; k < selection.selected.size(); ++k) {
    if (k) out += separator;
    out += selection.chunks.at(selection.selected[k]).text(context);
  }
  return out;
}

BaselineKind parse_baseline_kind(std::string_view name) {
  if (name == "full") return BaselineKind::full;
  if (name == "truncate") return BaselineKind::truncate;
  if (name == "rag") return BaselineKind::rag;
  fail("unknown baseline '{}' (choose full, truncate or rag)", name);
}

const char* to_string(BaselineKind kind) {
  switch (kind) {
    case BaselineKind::full: return "full";
    case BaselineKind::truncate: return "truncate";
    case BaselineKind::rag: return "rag";
  }
  return "?";
}

}  // namespace e2llm
