// The one checked way to read JSON fields: config files (config.json,
// generation_config.json, tokenizer_config.json, training configs) and dataset
// records all go through these readers.
//
// What each reader accepts:
//   integers  an integral JSON number inside the target type's range. Written
//             20 or 20.0 (Python's json writes floats for counts computed as
//             floats, e.g. transformers' max_length); 20.5, 1e21 or 2^63 for
//             an int64_t are refused, never truncated or wrapped.
//   floats    a finite number (an integer is fine); NaN and infinity are refused.
//   strings   strings only; booleans true/false only (not 0/1).
// An absent field and a null one mean the same: the default, or "missing".
//
// A refusal is an e2llm::Error naming the source (a file path, or "" when the
// caller prefixes its own), the field's path from the source's top level
// ("rope_scaling.factor", "eos_token_id[1]") and the value, and saying what
// was expected. No nlohmann exception text ever reaches the user.
//
// Torch-free: the libFuzzer targets compile json_fields.cpp with clang.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "e2llm/core/error.h"

namespace e2llm::json_fields {

// Names a JSON value in messages: its source and the path of keys and
// indices from the source's top level (empty = the top level itself).
class Where {
 public:
  // Implicit from a file name, so that readers take a `what` string as it is.
  Where(std::string source = "", std::string path = "") : source_(std::move(source)), path_(std::move(path)) {}
  Where(const char* source) : Where(std::string(source)) {}

  Where key(std::string_view name) const;  // the member `name` of this object
  Where index(size_t i) const;             // element i of this array
  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }
  // "cfg.json: field 'rope_scaling.factor'", "field 'id'", "cfg.json: the top level".
  std::string describe() const;
  // "cfg.json: " or "" (for messages that name the field themselves).
  std::string prefix() const { return source_.empty() ? "" : source_ + ": "; }

 private:
  std::string source_, path_;
};

// The value for messages: its JSON text, shortened ("1e+21", "\"big\""), and
// with its JSON type ("string \"big\"").
std::string text_of(const nlohmann::json& v);
std::string shown(const nlohmann::json& v);

// Refuses anything but an object.
void require_object(const nlohmann::json& v, const Where& where);
// Refuses a member of `object` whose key is not one of `known` (a misspelt
// option would otherwise be silently ignored), naming it and the known ones.
void require_known_keys(const nlohmann::json& object, std::initializer_list<std::string_view> known,
                        const Where& where);
// The member `key` of `object` (which must be an object); nullptr when absent or null.
const nlohmann::json* find(const nlohmann::json& object, std::string_view key, const Where& object_where = {});
// The member `key`; refuses an absent or null one ("missing field 'key'").
const nlohmann::json& field(const nlohmann::json& object, std::string_view key, const Where& object_where = {});

// The checked conversions of one value.
bool read_bool(const nlohmann::json& v, const Where& where);
std::string read_string(const nlohmann::json& v, const Where& where);
double read_number(const nlohmann::json& v, const Where& where);  // finite
int64_t read_integer(const nlohmann::json& v, const Where& where, int64_t min, int64_t max);
uint64_t read_unsigned(const nlohmann::json& v, const Where& where);

template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};

// read<T>: bool, std::string, double, float, any integer type up to 64 bits,
// and std::vector of those (a JSON array; elements named "key[i]").
template <typename T>
T read(const nlohmann::json& v, const Where& where) {
  if constexpr (std::is_same_v<T, bool>) {
    return read_bool(v, where);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return read_string(v, where);
  } else if constexpr (std::is_same_v<T, double>) {
    return read_number(v, where);
  } else if constexpr (std::is_same_v<T, float>) {
    const double d = read_number(v, where);
    E2LLM_CHECK(std::abs(d) <= std::numeric_limits<float>::max(), "{} is {}, too large for a 32-bit float",
                where.describe(), text_of(v));
    return static_cast<float>(d);
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    static_assert(sizeof(T) == sizeof(uint64_t), "read<T>: unsigned fields are uint64_t");
    return read_unsigned(v, where);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(read_integer(v, where, std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
  } else if constexpr (is_vector<T>::value) {
    E2LLM_CHECK(v.is_array(), "{} must be a list, but has the wrong type: {}", where.describe(), shown(v));
    T out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) out.push_back(read<typename T::value_type>(v[i], where.index(i)));
    return out;
  } else {
    static_assert(sizeof(T) == 0, "json_fields::read<T>: no checked reader for this type");
  }
}

// Fields of an object. `object_where` names the object; the field's path adds the key.
template <typename T>
std::optional<T> optional(const nlohmann::json& object, std::string_view key, const Where& object_where = {}) {
  const nlohmann::json* v = find(object, key, object_where);
  if (!v) return std::nullopt;
  return read<T>(*v, object_where.key(key));
}

template <typename T>
T value_or(const nlohmann::json& object, std::string_view key, const std::type_identity_t<T>& fallback,
           const Where& object_where = {}) {
  const nlohmann::json* v = find(object, key, object_where);
  return v ? read<T>(*v, object_where.key(key)) : fallback;
}

template <typename T>
T required(const nlohmann::json& object, std::string_view key, const Where& object_where = {}) {
  return read<T>(field(object, key, object_where), object_where.key(key));
}

// A value that may be one item or a list of them, as Hugging Face writes
// token ids ("eos_token_id": 2 or [1, 106]).
template <typename T>
std::vector<T> one_or_list(const nlohmann::json& v, const Where& where) {
  if (v.is_array()) return read<std::vector<T>>(v, where);
  return {read<T>(v, where)};
}

// Shorthands for dataset records, whose readers prefix their own file:line.
inline std::string string_field(const nlohmann::json& j, std::string_view key, const Where& where = {}) {
  return required<std::string>(j, key, where);
}
inline std::vector<std::string> string_array_field(const nlohmann::json& j, std::string_view key,
                                                   const Where& where = {}) {
  return required<std::vector<std::string>>(j, key, where);
}
const nlohmann::json& array_field(const nlohmann::json& j, std::string_view key, const Where& where = {});
// An id may be written as a string or an integer; either way it comes back as text.
std::string id_field(const nlohmann::json& j, std::string_view key, const Where& where = {});

}  // namespace e2llm::json_fields
