// The {"String": ...} / {"Regex": ...} patterns tokenizer.json uses in its
// Replace and Split steps.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/regex.h"

namespace e2llm::text {

class Pattern {
 public:
  static Pattern literal(std::string text);
  static Pattern from_json(const nlohmann::json& j, const std::string& where);
  // Non-overlapping, non-empty matches as byte ranges, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // Every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

}  // namespace e2llm::text
