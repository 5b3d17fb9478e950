// Vocabulary, WordLevel, and the model factory. The bigger models have their
// own files (model_wordpiece.cpp, model_bpe.cpp, model_unigram.cpp).
#include "tokenizer/models.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/model_factories.h"

namespace e2llm::text {

void Vocab::add(std::string token, int64_t id) {
  E2LLM_CHECK(id >= 0 && id <= kMaxTokenId, "vocabulary: id {} for token '{}' is outside [0, {}]", id, token,
              kMaxTokenId);
  size_t index = static_cast<size_t>(id);
  if (index >= tokens_.size()) {
    tokens_.resize(index + 1);
    has_.resize(index + 1, false);
  }
  tokens_[index] = token;
  has_[index] = true;
  ids_.insert_or_assign(std::move(token), id);
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
