// Vocabulary, WordLevel, and the model factory. The bigger models have their
// own files (model_wordpiece.cpp, model_bpe.cpp, model_unigram.cpp).
#include "tokenizer/models.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <utility>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/model_factories.h"

namespace e2llm::text {

void Vocab::add(std::string token, int64_t id) {
  E2LLM_CHECK(id >= 0 && id <= kMaxTokenId, "vocabulary: id {} for token '{}' is outside [0, {}]", id, token,
              kMaxTokenId);
  const size_t index = static_cast<size_t>(id);
  if (index >= tokens_.size()) {
    tokens_.resize(index + 1);
    has_.resize(index + 1, false);
  }
  if ((occupied_ + 1) * 2 > slots_.size()) rehash(std::max<size_t>(64, slots_.size() * 2));  // at most half full
  const size_t slot = slot_of(token);
  if (slots_[slot] == 0) {
    ++occupied_;
    if (aliases_.erase(token) == 0) ++size_;
  }
  slots_[slot] = static_cast<uint32_t>(id + 1);  // a token seen again takes its latest id
  // The earlier string's slot stays: its probe passes over it now, and finds the alias.
  if (has_[index] && tokens_[index] != token) aliases_.emplace(std::move(tokens_[index]), id);
  tokens_[index] = std::move(token);
  has_[index] = true;
}

size_t Vocab::slot_of(std::string_view token) const {
  const size_t mask = slots_.size() - 1;  // a power of two
  for (size_t slot = std::hash<std::string_view>{}(token) & mask;; slot = (slot + 1) & mask) {
    const uint32_t id_plus_one = slots_[slot];
    if (id_plus_one == 0 || tokens_[id_plus_one - 1] == token) return slot;
  }
}

std::optional<int64_t> Vocab::find_alias(std::string_view token) const {
  const auto it = aliases_.find(token);
  return it == aliases_.end() ? std::nullopt : std::optional<int64_t>(it->second);
}

void Vocab::rehash(size_t slot_count) {
  std::vector<uint32_t> old = std::exchange(slots_, std::vector<uint32_t>(slot_count, 0));
  occupied_ = 0;
  for (uint32_t id_plus_one : old) {
    if (id_plus_one == 0) continue;
    uint32_t& slot = slots_[slot_of(tokens_[id_plus_one - 1])];  // a left-behind slot lands on its id's own
    occupied_ += slot == 0;
    slot = id_plus_one;
  }
}

Vocab read_vocab_object(const nlohmann::json& vocab, const std::string& where) {
  E2LLM_CHECK(vocab.is_object(), "{}.vocab must be an object of token -> id", where);
  Vocab v;
  const json_fields::Where ids(where, "vocab");
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    v.add(it.key(), json_fields::read_integer(it.value(), ids.key(it.key()), 0, kMaxTokenId));
  return v;
}

namespace {

class WordLevel : public Model {
 public:
  WordLevel(Vocab vocab, std::string unk) : unk_(std::move(unk)) { vocab_ = std::move(vocab); }
  void tokenize(std::string_view piece, std::vector<Token>& out) const override {
    uint32_t n = static_cast<uint32_t>(piece.size());
    if (auto id = vocab_.find(piece)) {
      out.push_back({*id, std::string(piece), 0, n});
      return;
    }
    auto unk = vocab_.find(unk_);
    E2LLM_CHECK(unk.has_value(), "WordLevel: '{}' is not in the vocabulary and unk_token '{}' is missing", piece, unk_);
    out.push_back({*unk, unk_, 0, n});
  }

 private:
  std::string unk_;
};

}  // namespace

std::unique_ptr<Model> make_model(const nlohmann::json& j, const std::string& where) {
  E2LLM_CHECK(j.is_object(), "{}: missing model", where);
  std::string type = j.value("type", "");
  if (type.empty()) {
    // Older files leave the type out; the fields tell.
    if (j.contains("merges")) type = "BPE";
    else if (j.contains("max_input_chars_per_word")) type = "WordPiece";
    else if (j.contains("unk_id")) type = "Unigram";
    else type = "WordLevel";
  }
  if (type == "WordPiece") return make_wordpiece_model(j, where);
  if (type == "BPE") return make_bpe_model_from_json(j, where);
  if (type == "Unigram") return make_unigram_model(j, where);
  if (type == "WordLevel")
    return std::make_unique<WordLevel>(read_vocab_object(j.at("vocab"), where), j.value("unk_token", "<unk>"));
  fail("{}: unsupported model type '{}' (supported: WordPiece, BPE, Unigram, WordLevel)", where, type);
}

}  // namespace e2llm::text
