#include "tokenizer/pattern.h"

#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"

namespace e2llm::text {

Pattern Pattern::literal(std::string text) {
  Pattern p;
  p.literal_ = std::move(text);
  return p;
}

Pattern Pattern::from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_string()) return literal(j.get<std::string>());
  E2LLM_CHECK(j.is_object(), "{}: pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}", where);
  if (j.contains("String")) return literal(j.at("String").get<std::string>());
  E2LLM_CHECK(j.contains("Regex"), "{}: pattern has neither \"String\" nor \"Regex\"", where);
  Pattern p;
  p.regex_ = std::make_shared<Regex>(j.at("Regex").get<std::string>());
  return p;
}

std::vector<std::pair<size_t, size_t>> Pattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> out;
  if (literal_.empty()) return out;
  for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size()))
    out.emplace_back(at, at + literal_.size());
  return out;
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  size_t last = 0;
  for (auto [b, e] : find_all(text)) {
    out.append(text.substr(last, b - last));
    out.append(content);
    last = e;
  }
  out.append(text.substr(last));
  return out;
}

}  // namespace e2llm::text
