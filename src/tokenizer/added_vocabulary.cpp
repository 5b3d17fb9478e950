#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "io/json_fields.h"
#include "tokenizer/models.h"
#include "tokenizer/unicode.h"

namespace e2llm::text {
namespace {

char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && is_utf8_continuation(static_cast<unsigned char>(s[i]))) --i;
  size_t len;
  return decode_utf8_valid(s.data() + i, len);
}

bool is_word_char(char32_t c) { return c == '_' || is_alphanumeric(c) || is_nonspacing_mark(c); }

}  // namespace

void AddedVocabulary::add(AddedToken token) {
  E2LLM_CHECK(!token.content.empty(), "added token with id {} has empty content", token.id);
  size_t index = tokens_.size();
  auto& bucket = by_first_byte_[token.normalized ? 1 : 0][static_cast<unsigned char>(token.content[0])];
  index_of_id_[token.id] = index;
  tokens_.push_back(std::move(token));
  // Longest first, equal lengths in the order added: after every token at least
  // as long (Gemma's GGUF adds ~6k control tokens, most of them starting with '<').
  auto longer = [this](size_t a, size_t b) { return tokens_[a].content.size() > tokens_[b].content.size(); };
  bucket.insert(std::upper_bound(bucket.begin(), bucket.end(), index, longer), index);
}

AddedVocabulary AddedVocabulary::from_json(const nlohmann::json& list, const std::string& where) {
  AddedVocabulary v;
  if (list.is_null()) return v;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& j = list[i];
    AddedToken t;
    t.content = j.at("content").get<std::string>();
    t.id = json_fields::read_integer(j.at("id"), json_fields::Where(where, fmt::format("[{}].id", i)), 0, kMaxTokenId);
    t.special = j.value("special", false);
    t.single_word = j.value("single_word", false);
    t.lstrip = j.value("lstrip", false);
    t.rstrip = j.value("rstrip", false);
    t.normalized = j.value("normalized", !t.special);
    E2LLM_CHECK(!t.content.empty(), "{}[{}]: empty content", where, i);
    v.add(std::move(t));
  }
  return v;
}

std::vector<AddedMatch> AddedVocabulary::find(std::string_view text, bool normalized) const {
  std::vector<AddedMatch> matches;
  const auto& buckets = by_first_byte_[normalized ? 1 : 0];
  if (buckets.empty()) return matches;
  size_t start_offset = 0;  // end of the previous match
  for (size_t pos = 0; pos < text.size();) {
    auto bucket = buckets.find(static_cast<unsigned char>(text[pos]));
    const AddedToken* hit = nullptr;
    if (bucket != buckets.end()) {
      for (size_t index : bucket->second) {
        const std::string& c = tokens_[index].content;
        if (text.compare(pos, c.size(), c) == 0) {
          hit = &tokens_[index];
          break;
        }
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + hit->content.size();
    if (hit->single_word) {
      bool start_ok = begin == 0 || !is_word_char(last_char(text.substr(0, begin)));
      size_t len;
      bool stop_ok = end == text.size() || !is_word_char(decode_utf8_valid(text.data() + end, len));
      if (!start_ok || !stop_ok) {
        ++pos;
        continue;
      }
    }
    if (hit->lstrip) {
      size_t b = begin;
      while (b > start_offset && is_whitespace(last_char(text.substr(0, b)))) {
        do --b;
        while (b > 0 && is_utf8_continuation(static_cast<unsigned char>(text[b])));
      }
      begin = b;
    }
    if (hit->rstrip) {
      while (end < text.size()) {
        size_t len;
        if (!is_whitespace(decode_utf8_valid(text.data() + end, len))) break;
        end += len;
      }
    }
    matches.push_back({begin, end, hit->id});
    start_offset = end;
    pos = end;
  }
  return matches;
}

const AddedToken* AddedVocabulary::by_id(int64_t id) const {
  auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  for (const auto& t : tokens_)
    if (t.content == content) return &t;
  return nullptr;
}

}  // namespace e2llm::text
