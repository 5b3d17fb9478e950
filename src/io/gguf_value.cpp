// GgufValue: typed access to one GGUF metadata value, and its text rendering.
#include <cstring>
#include <iterator>
#include <limits>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf_format.h"

namespace e2llm {

namespace {

constexpr size_t kMaxRenderedArray = 16;  // longer arrays are summarised

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    default: return 8;
  }
}

bool is_integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::U16:
    case GgufValueType::I16: case GgufValueType::U32: case GgufValueType::I32:
    case GgufValueType::U64: case GgufValueType::I64: return true;
    default: return false;
  }
}

bool is_float_type(GgufValueType t) {
  return t == GgufValueType::F32 || t == GgufValueType::F64;
}

uint64_t load_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// The stored bits of an integer as int64; throws for a U64 that does not fit.
int64_t bits_to_int(GgufValueType t, uint64_t bits) {
  switch (t) {
    case GgufValueType::I8: return static_cast<int8_t>(bits);
    case GgufValueType::I16: return static_cast<int16_t>(bits);
    case GgufValueType::I32: return static_cast<int32_t>(bits);
    case GgufValueType::I64: return static_cast<int64_t>(bits);
    case GgufValueType::U64:
      E2LLM_CHECK(bits <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                  "u64 value {} does not fit in int64", bits);
      return static_cast<int64_t>(bits);
    default: return static_cast<int64_t>(bits);  // unsigned up to 32 bits
  }
}

double bits_to_float(GgufValueType t, uint64_t bits) {
  if (t == GgufValueType::F32) {
    float f;
    const uint32_t b = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (t == GgufValueType::F64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  if (t == GgufValueType::U64) return static_cast<double>(bits);
  return static_cast<double>(bits_to_int(t, bits));
}

std::string render_scalar(GgufValueType t, uint64_t bits) {
  if (t == GgufValueType::BOOL) return bits ? "true" : "false";
  if (is_float_type(t)) return fmt::format("{}", bits_to_float(t, bits));
  if (t == GgufValueType::U64) return fmt::format("{}", bits);
  return fmt::format("{}", bits_to_int(t, bits));
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                                "i32", "f32",  "bool",   "string", "array",
                                                "u64", "i64",  "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

bool GgufValue::is_integer() const { return is_integer_type(type_); }
bool GgufValue::is_float() const { return is_float_type(type_); }

std::string GgufValue::describe() const {
  if (!is_array()) return fmt::format("a {}", gguf_value_type_name(type_));
  return fmt::format("an array of {} {}", count_, gguf_value_type_name(element_type_));
}

int64_t GgufValue::as_int() const {
  E2LLM_CHECK(is_integer(), "is {}, not an integer", describe());
  return bits_to_int(type_, bits_);
}

double GgufValue::as_float() const {
  E2LLM_CHECK(is_float() || is_integer(), "is {}, not a number", describe());
  return bits_to_float(type_, bits_);
}

bool GgufValue::as_bool() const {
  E2LLM_CHECK(type_ == GgufValueType::BOOL, "is {}, not a bool", describe());
  return bits_ != 0;
}

const std::string& GgufValue::as_string() const {
  E2LLM_CHECK(type_ == GgufValueType::STRING, "is {}, not a string", describe());
  return string_;
}

const std::vector<std::string>& GgufValue::as_strings() const {
  E2LLM_CHECK(is_array() && element_type_ == GgufValueType::STRING,
              "is {}, not an array of strings", describe());
  return strings_;
}

std::vector<int64_t> GgufValue::as_ints() const {
  E2LLM_CHECK(is_array() && is_integer_type(element_type_), "is {}, not an array of integers",
              describe());
  const size_t n = scalar_size(element_type_);
  std::vector<int64_t> out(count_);
  for (size_t i = 0; i < count_; ++i)
    out[i] = bits_to_int(element_type_, load_le(raw_.data() + i * n, n));
  return out;
}

std::vector<float> GgufValue::as_floats() const {
  E2LLM_CHECK(is_array() && (is_float_type(element_type_) || is_integer_type(element_type_)),
              "is {}, not an array of numbers", describe());
  if (element_type_ == GgufValueType::F32) {  // the common case (token scores): one copy
    std::vector<float> out(count_);
    if (count_) std::memcpy(out.data(), raw_.data(), count_ * 4);
    return out;
  }
  const size_t n = scalar_size(element_type_);
  std::vector<float> out(count_);
  for (size_t i = 0; i < count_; ++i)
    out[i] = static_cast<float>(bits_to_float(element_type_, load_le(raw_.data() + i * n, n)));
  return out;
}

std::vector<bool> GgufValue::as_bools() const {
  E2LLM_CHECK(is_array() && element_type_ == GgufValueType::BOOL, "is {}, not an array of bools",
              describe());
  std::vector<bool> out(count_);
  for (size_t i = 0; i < count_; ++i) out[i] = raw_[i] != 0;
  return out;
}

const std::vector<GgufValue>& GgufValue::as_arrays() const {
  E2LLM_CHECK(is_array() && element_type_ == GgufValueType::ARRAY,
              "is {}, not an array of arrays", describe());
  return arrays_;
}

std::string GgufValue::to_text() const {
  if (type_ == GgufValueType::STRING) return string_;
  if (!is_array()) return render_scalar(type_, bits_);
  if (count_ > kMaxRenderedArray)
    return fmt::format("[array of {} {}s]", count_, gguf_value_type_name(element_type_));
  std::vector<std::string> items;
  for (size_t i = 0; i < count_; ++i) {
    if (element_type_ == GgufValueType::STRING) {
      items.push_back(fmt::format("\"{}\"", strings_[i]));
    } else if (element_type_ == GgufValueType::ARRAY) {
      items.push_back(arrays_[i].to_text());
    } else {
      const size_t n = scalar_size(element_type_);
      items.push_back(render_scalar(element_type_, load_le(raw_.data() + i * n, n)));
    }
  }
  return fmt::format("[{}]", fmt::join(items, ", "));
}

}  // namespace e2llm
