// BPE: a word starts as characters (or <0xXX> byte tokens, or [UNK]) and the
// adjacent pair with the best merge rank is merged until none applies, the
// order Hugging Face's priority queue yields (lowest rank, then leftmost).
#include <algorithm>
#include <mutex>
#include <numeric>
#include <queue>
#include <shared_mutex>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "tokenizer/model_factories.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

struct Symbol {
  int64_t id;
  int32_t prev, next;
  uint32_t begin, len;
};

struct Candidate {
  uint32_t rank;
  int32_t pos;
  int64_t new_id;
  bool operator<(const Candidate& o) const {  // max-heap: best = lowest rank, then leftmost
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

// Merges grouped by their left token, each group sorted by its right token, so
// a lookup is a short binary search in one group: 12 bytes per merge and 4 per
// token (Gemma 3's ~0.5M merges: ~7 MB, where a hash map's 32-byte nodes and
// its buckets took ~20 MB).
class MergeTable {
 public:
  struct Merge {
    uint32_t right, rank, new_id;
  };

  // `merges` in rank order, every id below id_bound; a pair listed twice keeps
  // its last rank, as Hugging Face's merge map (later entries overwrite).
  MergeTable(const std::vector<BpeMerge>& merges, size_t id_bound) : first_(id_bound + 1, 0) {
    std::vector<uint32_t> order(merges.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::tie(merges[a].left, merges[a].right) < std::tie(merges[b].left, merges[b].right);
    });
    merges_.reserve(merges.size());
    for (size_t i = 0; i < order.size(); ++i) {
      const BpeMerge& m = merges[order[i]];
      const bool listed_again = i + 1 < order.size() && m.left == merges[order[i + 1]].left &&
                                m.right == merges[order[i + 1]].right;
      if (listed_again) continue;  // the stable sort put its later ranks after it
      merges_.push_back({static_cast<uint32_t>(m.right), order[i], static_cast<uint32_t>(m.merged)});
      ++first_[static_cast<size_t>(m.left) + 1];
    }
    std::partial_sum(first_.begin(), first_.end(), first_.begin());
  }

  const Merge* find(int64_t left, int64_t right) const {
    if (left < 0 || right < 0 || static_cast<size_t>(left) + 1 >= first_.size()) return nullptr;
    const Merge* begin = merges_.data() + first_[static_cast<size_t>(left)];
    const Merge* end = merges_.data() + first_[static_cast<size_t>(left) + 1];
    const Merge* it = std::lower_bound(begin, end, right, [](const Merge& m, int64_t r) { return m.right < r; });
    return it != end && it->right == right ? it : nullptr;
  }

 private:
  std::vector<uint32_t> first_;  // by left id: where its merges start in merges_; one more for the end
  std::vector<Merge> merges_;
};

// Spelled-out merges ("left right", as tokenizer.json and BPE GGUFs give them) by id.
MergeTable merge_table(const Vocab& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                       const BpeOptions& options, const std::string& where) {
  const size_t prefix_len = options.continuing_subword_prefix.size();
  std::vector<BpeMerge> by_id;
  by_id.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab.find(a), ib = vocab.find(b);
    E2LLM_CHECK(ia && ib, "{}: merge #{} '{} {}' uses a token missing from the vocabulary", where, rank, a, b);
    std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    auto id = vocab.find(merged);
    E2LLM_CHECK(id.has_value(), "{}: merge #{} '{} {}' makes '{}', which is not in the vocabulary", where, rank, a,
                b, merged);
    by_id.push_back({*ia, *ib, *id});
  }
  return MergeTable(by_id, vocab.id_bound());
}

MergeTable merge_table(const Vocab& vocab, const std::vector<BpeMerge>& merges, const std::string& where) {
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    E2LLM_CHECK(vocab.token(m.left) && vocab.token(m.right) && vocab.token(m.merged),
                "{}: merge #{} ({} {} -> {}) uses an id outside the vocabulary", where, rank, m.left, m.right,
                m.merged);
  }
  return MergeTable(merges, vocab.id_bound());
}

class Bpe : public Model {
 public:
  Bpe(Vocab vocab, MergeTable merges, BpeOptions options) : options_(std::move(options)), merges_(std::move(merges)) {
    vocab_ = std::move(vocab);
    if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);
    for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(fmt::format("<0x{:02X}>", b)).value_or(-1);
  }

  void tokenize(std::string_view word, std::vector<Token>& out) const override {
    if (word.empty()) return;
    if (options_.ignore_merges) {
      if (auto id = vocab_.find(word)) {
        out.push_back({*id, std::string(word), 0, static_cast<uint32_t>(word.size())});
        return;
      }
    }
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable && from_cache(word, out)) return;
    std::vector<Symbol> symbols = initial_symbols(word);
    merge_all(symbols);
    size_t first = out.size();
    for (const Symbol& s : symbols)
      if (s.len > 0) out.push_back({s.id, *vocab_.token(s.id), s.begin, s.begin + s.len});
    if (cacheable) to_cache(word, out, first);
  }

 private:
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 1 << 16;

  void add_symbol(std::vector<Symbol>& symbols, int64_t id, uint32_t begin, uint32_t len) const {
    int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1, begin, len});
    if (index > 0) symbols[static_cast<size_t>(index - 1)].next = index;
  }

  std::vector<Symbol> initial_symbols(std::string_view word) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    bool unk = false;  // a pending [UNK] covering [unk_begin, unk_begin + unk_len)
    uint32_t unk_begin = 0, unk_len = 0;
    std::string lookup;
    const bool affixes = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
    for (uint32_t i = 0; i < word.size();) {
      uint32_t len = static_cast<uint32_t>(utf8_sequence_length(static_cast<unsigned char>(word[i]), 1));
      std::string_view ch = word.substr(i, len);
      if (affixes) {
        lookup.clear();
        if (i > 0) lookup += options_.continuing_subword_prefix;
        lookup.append(ch);
        if (i + len == word.size()) lookup += options_.end_of_word_suffix;
        ch = lookup;
      }
      if (auto id = vocab_.find(ch)) {
        if (unk) add_symbol(symbols, *unk_id_, unk_begin, unk_len), unk = false;
        add_symbol(symbols, *id, i, len);
      } else if (options_.byte_fallback && has_all_bytes(ch)) {
        // As in HF, a pending [UNK] is not flushed before byte tokens.
        for (size_t k = 0; k < ch.size(); ++k)
          add_symbol(symbols, byte_ids_[static_cast<unsigned char>(ch[k])], i + static_cast<uint32_t>(k), 1);
      } else if (unk_id_) {
        if (unk && options_.fuse_unk) {
          unk_len += len;
        } else {
          if (unk) add_symbol(symbols, *unk_id_, unk_begin, unk_len);
          unk = true, unk_begin = i, unk_len = len;
        }
      }
      i += len;
    }
    if (unk) add_symbol(symbols, *unk_id_, unk_begin, unk_len);
    return symbols;
  }

  bool has_all_bytes(std::string_view s) const {
    for (unsigned char b : s)
      if (byte_ids_[b] < 0) return false;
    return true;
  }

  void push_candidate(std::priority_queue<Candidate>& queue, const std::vector<Symbol>& symbols, int32_t pos) const {
    if (pos < 0) return;
    const Symbol& left = symbols[static_cast<size_t>(pos)];
    if (left.next < 0) return;
    const MergeTable::Merge* merge = merges_.find(left.id, symbols[static_cast<size_t>(left.next)].id);
    if (merge) queue.push({merge->rank, pos, merge->new_id});
  }

  void merge_all(std::vector<Symbol>& symbols) const {
    std::priority_queue<Candidate> queue;
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(queue, symbols, i);
    while (!queue.empty()) {
      Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[static_cast<size_t>(top.pos)];
      if (left.len == 0 || left.next < 0) continue;
      Symbol& right = symbols[static_cast<size_t>(left.next)];
      const MergeTable::Merge* merge = merges_.find(left.id, right.id);
      if (!merge || merge->new_id != top.new_id) continue;  // stale entry
      left.id = top.new_id;
      left.len += right.len;
      left.next = right.next;
      right.len = 0;
      if (left.next >= 0) symbols[static_cast<size_t>(left.next)].prev = top.pos;
      push_candidate(queue, symbols, left.prev);
      push_candidate(queue, symbols, top.pos);
    }
  }

  struct CachedToken {
    int64_t id;
    uint32_t begin, end;
  };

  bool from_cache(std::string_view word, std::vector<Token>& out) const {
    std::shared_lock lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it == cache_.end()) return false;
    for (const CachedToken& t : it->second) out.push_back({t.id, *vocab_.token(t.id), t.begin, t.end});
    return true;
  }

  void to_cache(std::string_view word, const std::vector<Token>& out, size_t first) const {
    std::vector<CachedToken> tokens;
    tokens.reserve(out.size() - first);
    for (size_t i = first; i < out.size(); ++i) tokens.push_back({out[i].id, out[i].begin, out[i].end});
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) return;
    cache_.emplace(std::string(word), std::move(tokens));
  }

  BpeOptions options_;
  MergeTable merges_;
  std::optional<int64_t> unk_id_;
  int64_t byte_ids_[256];
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<CachedToken>, StringHash, std::equal_to<>> cache_;
};

std::vector<std::pair<std::string, std::string>> read_merges(const nlohmann::json& merges, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& m = merges[i];
    if (m.is_array()) {
      E2LLM_CHECK(m.size() == 2, "{}.merges[{}]: expected a pair", where, i);
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      continue;
    }
    const std::string& s = m.get_ref<const std::string&>();
    size_t space = s.find(' ', 1);
    E2LLM_CHECK(space != std::string::npos, "{}.merges[{}]: '{}' is not 'left right'", where, i, s);
    out.emplace_back(s.substr(0, space), s.substr(space + 1));
  }
  return out;
}

std::string string_or_empty(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}

}  // namespace

std::unique_ptr<Model> make_bpe_model_from_json(const nlohmann::json& j, const std::string& where) {
  BpeOptions options;
  if (j.contains("unk_token") && !j.at("unk_token").is_null()) options.unk_token = j.at("unk_token").get<std::string>();
  options.continuing_subword_prefix = string_or_empty(j, "continuing_subword_prefix");
  options.end_of_word_suffix = string_or_empty(j, "end_of_word_suffix");
  options.fuse_unk = j.value("fuse_unk", false);
  options.byte_fallback = j.value("byte_fallback", false);
  options.ignore_merges = j.value("ignore_merges", false);
  E2LLM_CHECK(j.value("dropout", nlohmann::json()).is_null() || j.at("dropout").get<double>() == 0.0,
              "{}: BPE dropout is not supported (it makes tokenization random)", where);
  Vocab vocab = read_vocab_object(j.at("vocab"), where);
  MergeTable merges = merge_table(vocab, read_merges(j.at("merges"), where + ".merges"), options, where);
  return std::make_unique<Bpe>(std::move(vocab), std::move(merges), options);
}

namespace {
Vocab vocab_of(const std::vector<std::string>& tokens) {
  Vocab vocab;
  for (size_t i = 0; i < tokens.size(); ++i) vocab.add(tokens[i], static_cast<int64_t>(i));
  return vocab;
}
}  // namespace

std::unique_ptr<Model> make_bpe_model(const std::vector<std::string>& tokens,
                                      const std::vector<std::pair<std::string, std::string>>& merges,
                                      const BpeOptions& options, const std::string& where) {
  Vocab vocab = vocab_of(tokens);
  MergeTable table = merge_table(vocab, merges, options, where);
  return std::make_unique<Bpe>(std::move(vocab), std::move(table), options);
}

std::unique_ptr<Model> make_bpe_model(const std::vector<std::string>& tokens, const std::vector<BpeMerge>& merges,
                                      const BpeOptions& options, const std::string& where) {
  Vocab vocab = vocab_of(tokens);
  MergeTable table = merge_table(vocab, merges, where);
  return std::make_unique<Bpe>(std::move(vocab), std::move(table), options);
}

}  // namespace e2llm::text
