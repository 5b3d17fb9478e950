// WordPiece (BERT): greedy longest match first, "##" on word-inner pieces, the
// whole word becomes [UNK] when any part has no match or the word is too long.
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/model_factories.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

class WordPiece : public Model {
 public:
  WordPiece(Vocab vocab, std::string unk, std::string prefix, size_t max_chars)
      : unk_(std::move(unk)), prefix_(std::move(prefix)), max_chars_(max_chars) {
    vocab_ = std::move(vocab);
    auto unk_id = vocab_.find(unk_);
    E2LLM_CHECK(unk_id.has_value(), "WordPiece: unk_token '{}' is not in the vocabulary", unk_);
    unk_id_ = *unk_id;
  }

  void tokenize(std::string_view word, std::vector<Token>& out) const override {
    const uint32_t n = static_cast<uint32_t>(word.size());
    if (count_code_points(word) > max_chars_) {
      out.push_back({unk_id_, unk_, 0, n});
      return;
    }
    size_t first = out.size();
    std::string candidate;
    for (uint32_t start = 0; start < n;) {
      uint32_t end = n;
      std::optional<int64_t> found;
      while (end > start) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(word.substr(start, end - start));
        if ((found = vocab_.find(candidate))) break;
        end = previous_char_boundary(word, end);
      }
      if (!found || end <= start) {
        out.resize(first);
        out.push_back({unk_id_, unk_, 0, n});
        return;
      }
      out.push_back({*found, candidate, start, end});
      start = end;
    }
  }

 private:
  static uint32_t previous_char_boundary(std::string_view s, uint32_t i) {
    do --i;
    while (i > 0 && is_utf8_continuation(static_cast<unsigned char>(s[i])));
    return i;
  }
  std::string unk_, prefix_;
  size_t max_chars_;
  int64_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece_model(const nlohmann::json& j, const std::string& where) {
  return std::make_unique<WordPiece>(read_vocab_object(j.at("vocab"), where), j.value("unk_token", "[UNK]"),
                                     j.value("continuing_subword_prefix", "##"),
                                     json_fields::value_or<size_t>(j, "max_input_chars_per_word", 100, where));
}

}  // namespace e2llm::text
