// tokenizer.json "model" step: turns one pre-tokenized piece into tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace e2llm::text {

struct Token {
  int64_t id;
  std::string value;
  uint32_t begin, end;  // bytes of the piece the token covers
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Token ids are stored densely (Vocab keeps a slot per id up to the largest):
// an id above this, far beyond any real vocabulary, is refused rather than
// allocated for.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 22) - 1;

// token <-> id, with lookups by string_view that do not allocate. Each token's
// string is held once, in tokens_; the token -> id direction is an
// open-addressing table of ids over it (a map from string to id held a second
// copy of every token in a 64-byte node: ~20 MB for Gemma 3's 262k tokens).
class Vocab {
 public:
  void add(std::string token, int64_t id);
  std::optional<int64_t> find(std::string_view token) const {
    if (slots_.empty()) return std::nullopt;
    const uint32_t id_plus_one = slots_[slot_of(token)];
    if (id_plus_one != 0) return id_plus_one - 1;
    return aliases_.empty() ? std::nullopt : find_alias(token);
  }
  const std::string* token(int64_t id) const {
    return id >= 0 && static_cast<size_t>(id) < tokens_.size() && has_[static_cast<size_t>(id)]
               ? &tokens_[static_cast<size_t>(id)]
               : nullptr;
  }
  size_t size() const { return size_; }
  size_t id_bound() const { return tokens_.size(); }  // 1 + the largest id

 private:
  // The slot holding `token`'s id + 1, or the empty slot (0) where it would go.
  size_t slot_of(std::string_view token) const;
  void rehash(size_t slot_count);
  std::optional<int64_t> find_alias(std::string_view token) const;

  std::vector<std::string> tokens_;  // by id
  std::vector<bool> has_;            // ids may have gaps
  std::vector<uint32_t> slots_;      // id + 1 or 0, probed linearly from the token's hash
  size_t size_ = 0;                  // distinct token strings
  size_t occupied_ = 0;              // non-zero slots, those an alias left behind included
  // A vocab may give two strings one id (Hugging Face's map finds both); tokens_
  // holds the latest, the earlier ones are kept here.
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> aliases_;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of `piece` (normalized, pre-tokenized text).
  virtual void tokenize(std::string_view piece, std::vector<Token>& out) const = 0;
  const Vocab& vocab() const { return vocab_; }

 protected:
  Vocab vocab_;
};

std::unique_ptr<Model> make_model(const nlohmann::json& j, const std::string& where);

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix, end_of_word_suffix;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
};
// `tokens[i]` has id i.
std::unique_ptr<Model> make_bpe_model(const std::vector<std::string>& tokens,
                                      const std::vector<std::pair<std::string, std::string>>& merges,
                                      const BpeOptions& options, const std::string& where);

// A merge by token ids, for merges derived from a vocabulary (a
// SentencePiece GGUF's have no spelled-out merges): no strings to build and
// look up again. Rank is the position in the list.
struct BpeMerge {
  int64_t left, right, merged;
};
std::unique_ptr<Model> make_bpe_model(const std::vector<std::string>& tokens, const std::vector<BpeMerge>& merges,
                                      const BpeOptions& options, const std::string& where);

}  // namespace e2llm::text
