// tokenizer.json "post_processor": adds [CLS]/[SEP]/BOS/EOS around the tokens
// and (RoBERTa / ByteLevel) trims spaces off the offsets.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "e2llm/tokenizer/tokenizer.h"

namespace e2llm::text {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // `e` holds ids, tokens and byte_offsets of one sequence.
  virtual void process(Encoding& e, bool add_special_tokens) const = 0;
  // How many tokens process() adds to a single sequence.
  virtual size_t added_tokens() const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where);

}  // namespace e2llm::text
