// The "Sequence" entries of tokenizer.json (normalizers, pre-tokenizers,
// post-processors, decoders) all list their steps the same way.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace e2llm::text {

// make(j[key][i], "where.key[i]") for every step; null steps are skipped.
template <typename Step, typename Make>
std::vector<std::unique_ptr<Step>> make_steps(const nlohmann::json& j, const char* key, const std::string& where,
                                              Make make) {
  std::vector<std::unique_ptr<Step>> steps;
  const nlohmann::json& list = j.at(key);
  for (size_t i = 0; i < list.size(); ++i) {
    auto step = make(list[i], fmt::format("{}.{}[{}]", where, key, i));
    if (step) steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace e2llm::text
