#include "io/json_fields.h"

#include <algorithm>
#include <cmath>

namespace e2llm::json_fields {

namespace {

constexpr size_t kShownChars = 80;  // enough to recognise a value, short enough for one line

// `expected` is what the reader wanted: "an integer", "a string", ...
[[noreturn]] void wrong_type(const nlohmann::json& v, const Where& where, std::string_view expected) {
  fail("{} must be {}, but has the wrong type: {}", where.describe(), expected, shown(v));
}

// 2^63 as a double: the first value past int64_t's range (which is [-2^63, 2^63)).
constexpr double kTwoTo63 = 9223372036854775808.0;

// A float that holds an integer, as int64_t; refuses fractions and values no
// int64_t holds before any cast (a cast out of range is undefined behaviour).
int64_t integral_float(const nlohmann::json& v, const Where& where, int64_t min, int64_t max) {
  const double d = v.get<double>();
  E2LLM_CHECK(std::isfinite(d) && d == std::floor(d), "{} is {}, not an integer", where.describe(), text_of(v));
  E2LLM_CHECK(d >= -kTwoTo63, "{} is {}, too small (at least {})", where.describe(), text_of(v), min);
  E2LLM_CHECK(d < kTwoTo63, "{} is {}, too large (at most {})", where.describe(), text_of(v), max);
  return static_cast<int64_t>(d);
}

}  // namespace

Where Where::key(std::string_view name) const {
  return Where(source_, path_.empty() ? std::string(name) : fmt::format("{}.{}", path_, name));
}

Where Where::index(size_t i) const { return Where(source_, fmt::format("{}[{}]", path_, i)); }

std::string Where::describe() const {
  if (path_.empty()) return source_.empty() ? "the JSON value" : source_ + ": the top level";
  return fmt::format("{}field '{}'", prefix(), path_);
}

std::string text_of(const nlohmann::json& v) {
  // dump() writes NaN and infinity as null; fmt says what they are.
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return fmt::format("{}", v.get<double>());
  // replace: a string from a binary file (GGUF metadata) may not be UTF-8, and
  // dump() would throw nlohmann's own error for it.
  std::string text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() <= kShownChars) return text;
  size_t cut = kShownChars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  return text.substr(0, cut) + "...";
}

std::string shown(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  return fmt::format("{} {}", v.is_boolean() ? "boolean" : v.type_name(), text_of(v));
}

void require_object(const nlohmann::json& v, const Where& where) {
  if (!v.is_object()) wrong_type(v, where, "a JSON object");
}

void require_known_keys(const nlohmann::json& object, std::initializer_list<std::string_view> known,
                        const Where& where) {
  require_object(object, where);
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string names;
    for (std::string_view name : known) names += (names.empty() ? "" : ", ") + std::string(name);
    fail("{} is not a known option (known: {})", where.key(item.key()).describe(), names);
  }
}

const nlohmann::json* find(const nlohmann::json& object, std::string_view key, const Where& object_where) {
  require_object(object, object_where);
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

const nlohmann::json& field(const nlohmann::json& object, std::string_view key, const Where& object_where) {
  const nlohmann::json* v = find(object, key, object_where);
  E2LLM_CHECK(v, "{}missing field '{}'", object_where.prefix(), object_where.key(key).path());
  return *v;
}

bool read_bool(const nlohmann::json& v, const Where& where) {
  if (!v.is_boolean()) wrong_type(v, where, "true or false");
  return v.get<bool>();
}

std::string read_string(const nlohmann::json& v, const Where& where) {
  if (!v.is_string()) wrong_type(v, where, "a string");
  return v.get<std::string>();
}

double read_number(const nlohmann::json& v, const Where& where) {
  if (!v.is_number()) wrong_type(v, where, "a number");
  const double d = v.get<double>();
  E2LLM_CHECK(std::isfinite(d), "{} is {}, not a finite number", where.describe(), text_of(v));
  return d;
}

int64_t read_integer(const nlohmann::json& v, const Where& where, int64_t min, int64_t max) {
  if (!v.is_number()) wrong_type(v, where, "an integer");
  int64_t i = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    E2LLM_CHECK(u <= static_cast<uint64_t>(max), "{} is {}, too large (at most {})", where.describe(), text_of(v), max);
    i = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    i = v.get<int64_t>();
  } else {
    i = integral_float(v, where, min, max);
  }
  E2LLM_CHECK(i >= min, "{} is {}, too small (at least {})", where.describe(), text_of(v), min);
  E2LLM_CHECK(i <= max, "{} is {}, too large (at most {})", where.describe(), text_of(v), max);
  return i;
}

uint64_t read_unsigned(const nlohmann::json& v, const Where& where) {
  if (!v.is_number()) wrong_type(v, where, "a non-negative integer");
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    E2LLM_CHECK(v.get<int64_t>() >= 0, "{} is {}, too small (at least 0)", where.describe(), text_of(v));
    return static_cast<uint64_t>(v.get<int64_t>());
  }
  const double d = v.get<double>();
  E2LLM_CHECK(std::isfinite(d) && d == std::floor(d), "{} is {}, not an integer", where.describe(), text_of(v));
  E2LLM_CHECK(d >= 0, "{} is {}, too small (at least 0)", where.describe(), text_of(v));
  E2LLM_CHECK(d < 2 * kTwoTo63, "{} is {}, too large (at most {})", where.describe(), text_of(v),
              std::numeric_limits<uint64_t>::max());
  return static_cast<uint64_t>(d);
}

const nlohmann::json& array_field(const nlohmann::json& j, std::string_view key, const Where& where) {
  const nlohmann::json& v = field(j, key, where);
  if (!v.is_array()) wrong_type(v, where.key(key), "a list");
  return v;
}

std::string id_field(const nlohmann::json& j, std::string_view key, const Where& where) {
  const nlohmann::json& v = field(j, key, where);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  wrong_type(v, where.key(key), "a string or an integer");
}

}  // namespace e2llm::json_fields
