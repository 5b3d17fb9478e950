// The model-free half of the RAG baseline: rank a context's chunks (cut by
// the chunker, chunker.h) for a query with SQLite FTS5's bm25(), and pick the
// top chunks that fit a budget (in document order).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace e2llm {

struct RankedChunk {
  size_t index;  // into the chunks given to Bm25Index
  double score;  // SQLite's bm25(): lower (more negative) is more relevant
};

// An in-memory FTS5 table (unicode61 tokenizer, remove_diacritics 2) over one
// context's chunks.
class Bm25Index {
 public:
  explicit Bm25Index(const std::vector<std::string>& chunks);
  ~Bm25Index();
  Bm25Index(const Bm25Index&) = delete;
  Bm25Index& operator=(const Bm25Index&) = delete;

  size_t size() const { return size_; }
  // The best `k` chunks for any word of `query` (an OR query, so no query
  // syntax is interpreted), best first; ties in chunk order. Chunks sharing no
  // word with the query are not returned.
  std::vector<RankedChunk> search(std::string_view query, size_t k) const;

 private:
  struct Db;
  std::unique_ptr<Db> db_;
  size_t size_ = 0;
};

// Greedy: takes ranked chunks while their cost (e.g. token count, from
// `cost_of`) fits in `budget`, skipping ones that do not fit; returns the
// chosen indices in document order.
std::vector<size_t> select_within_budget(const std::vector<RankedChunk>& ranked, size_t budget,
                                         const std::function<size_t(size_t index)>& cost_of);

}  // namespace e2llm
