// Added and special tokens: matched in the text before the model sees it,
// leftmost-longest, honouring lstrip / rstrip / single_word.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace e2llm::text {

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

struct AddedMatch {
  size_t begin, end;  // bytes, lstrip/rstrip spaces included
  int64_t id;
};

class AddedVocabulary {
 public:
  void add(AddedToken token);
  static AddedVocabulary from_json(const nlohmann::json& list, const std::string& where);

  // Matches of the tokens with normalized == `normalized` in `text`.
  std::vector<AddedMatch> find(std::string_view text, bool normalized) const;
  bool has_normalized() const { return !by_first_byte_[1].empty(); }
  bool empty() const { return tokens_.empty(); }

  const AddedToken* by_id(int64_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  // [normalized?][first byte] -> indices into tokens_, longest first.
  std::unordered_map<unsigned char, std::vector<size_t>> by_first_byte_[2];
  std::unordered_map<int64_t, size_t> index_of_id_;
};

}  // namespace e2llm::text
