// tokenizer.json "normalizer" steps.
#pragma once
#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalized_string.h"

namespace e2llm::text {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

// nullptr for a JSON null. Unknown types throw, naming `where`.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);

}  // namespace e2llm::text
