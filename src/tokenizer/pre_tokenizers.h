// tokenizer.json "pre_tokenizer" steps: cut normalized text into the pieces
// the model tokenizes one by one.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalized_string.h"

namespace e2llm::text {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces (never empty ones).
  virtual void pre_tokenize(std::vector<NormalizedString>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);

// GPT-2's split pattern, the default of the ByteLevel pre-tokenizer.
extern const char* const kGpt2SplitPattern;

}  // namespace e2llm::text
