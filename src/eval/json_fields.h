// Typed access to JSON fields with errors that name the field and what is wrong.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "e2llm/error.h"

namespace e2llm::json_fields {

inline const nlohmann::json& field(const nlohmann::json& j, std::string_view key) {
  E2LLM_CHECK(j.is_object(), "expected a JSON object, got {}", j.type_name());
  auto it = j.find(key);
  E2LLM_CHECK(it != j.end(), "missing field '{}'", key);
  return *it;
}

inline std::string string_field(const nlohmann::json& j, std::string_view key) {
  const auto& v = field(j, key);
  E2LLM_CHECK(v.is_string(), "field '{}' must be a string, got {}", key, v.type_name());
  return v.get<std::string>();
}

inline const nlohmann::json& array_field(const nlohmann::json& j, std::string_view key) {
  const auto& v = field(j, key);
  E2LLM_CHECK(v.is_array(), "field '{}' must be an array, got {}", key, v.type_name());
  return v;
}

inline std::vector<std::string> string_array_field(const nlohmann::json& j, std::string_view key) {
  std::vector<std::string> out;
  for (const auto& v : array_field(j, key)) {
    E2LLM_CHECK(v.is_string(), "field '{}' must hold strings, got {}", key, v.type_name());
    out.push_back(v.get<std::string>());
  }
  return out;
}

// An id may be written as a string or a number.
inline std::string id_field(const nlohmann::json& j, std::string_view key) {
  const auto& v = field(j, key);
  if (v.is_string()) return v.get<std::string>();
  E2LLM_CHECK(v.is_number_integer(), "field '{}' must be a string or an integer, got {}", key, v.type_name());
  return std::to_string(v.get<int64_t>());
}

}  // namespace e2llm::json_fields
