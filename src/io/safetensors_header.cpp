// The safetensors header parser, kept free of LibTorch so the fuzzer
// (fuzz/fuzz_safetensors.cpp) can build it with clang and sanitizers alone.
#include "e2llm/io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"

namespace e2llm {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference limit

struct DtypeSize {
  const char* name;
  size_t size;
};

const DtypeSize kDtypeSizes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

// 0 for a dtype safetensors does not define (or e2llm does not support).
size_t dtype_size_or_zero(const std::string& name) {
  for (const auto& d : kDtypeSizes)
    if (name == d.name) return d.size;
  return 0;
}

// Multiplies with overflow detection; false when the product overflows.
bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

SafeTensorEntry parse_entry(const std::string& what, const std::string& name,
                            const nlohmann::json& v) {
  SafeTensorEntry e;
  e.name = name;
  E2LLM_CHECK(v.is_object(), "{}: header entry '{}' is not an object", what, name);
  E2LLM_CHECK(v.contains("dtype") && v["dtype"].is_string(), "{}: tensor '{}' has no dtype",
              what, name);
  e.dtype = v["dtype"].get<std::string>();
  const size_t dtype_size = dtype_size_or_zero(e.dtype);
  E2LLM_CHECK(dtype_size > 0, "{}: tensor '{}' has unsupported dtype '{}'", what, name, e.dtype);
  E2LLM_CHECK(v.contains("shape") && v["shape"].is_array(), "{}: tensor '{}' has no shape", what,
              name);
  uint64_t elements = 1;
  for (const auto& d : v["shape"]) {
    E2LLM_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                "{}: tensor '{}' has a negative or non-integer dimension", what, name);
    uint64_t dim = d.get<uint64_t>();
    E2LLM_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                    checked_mul(elements, dim, &elements),
                "{}: tensor '{}' shape overflows", what, name);
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  const auto it = v.find("data_offsets");
  E2LLM_CHECK(it != v.end() && it->is_array() && it->size() == 2 &&
                  (*it)[0].is_number_unsigned() && (*it)[1].is_number_unsigned(),
              "{}: tensor '{}' needs data_offsets [begin, end]", what, name);
  e.begin = (*it)[0].get<uint64_t>();
  e.end = (*it)[1].get<uint64_t>();
  E2LLM_CHECK(e.begin <= e.end, "{}: tensor '{}' has data_offsets begin {} > end {}", what, name,
              e.begin, e.end);
  uint64_t bytes = 0;
  E2LLM_CHECK(checked_mul(elements, dtype_size, &bytes), "{}: tensor '{}' size overflows", what,
              name);
  E2LLM_CHECK(bytes == e.end - e.begin,
              "{}: tensor '{}' is {} x {} = {} bytes but data_offsets span {} bytes", what, name,
              e.dtype, elements, bytes, e.end - e.begin);
  return e;
}

}  // namespace

uint64_t safetensors_header_length(const uint8_t* file_start) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | file_start[i];
  return v;
}

size_t safetensors_dtype_size(const std::string& name) {
  const size_t size = dtype_size_or_zero(name);
  E2LLM_CHECK(size > 0, "unsupported safetensors dtype '{}'", name);
  return size;
}

std::vector<SafeTensorEntry> parse_safetensors_header(const uint8_t* data, size_t size,
                                                      const std::string& what,
                                                      std::map<std::string, std::string>* metadata) {
  E2LLM_CHECK(size >= 8, "{}: file is {} bytes, too short for a safetensors header", what, size);
  const uint64_t header_len = safetensors_header_length(data);
  E2LLM_CHECK(header_len <= kMaxHeaderBytes, "{}: header length {} exceeds the {} byte limit",
              what, header_len, kMaxHeaderBytes);
  E2LLM_CHECK(header_len <= size - 8,
              "{}: header length {} runs past the end of the file ({} bytes): truncated?", what,
              header_len, size);
  const char* header = reinterpret_cast<const char*>(data + 8);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header, header + header_len);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: header (bytes 8..{}) is not valid JSON: {}", what, 8 + header_len, e.what());
  }
  E2LLM_CHECK(j.is_object(), "{}: header is not a JSON object", what);
  const uint64_t data_size = size - 8 - header_len;

  std::vector<SafeTensorEntry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      E2LLM_CHECK(it->is_object(), "{}: __metadata__ is not an object", what);
      for (auto m = it->begin(); m != it->end(); ++m) {
        E2LLM_CHECK(m->is_string(), "{}: __metadata__ value '{}' is not a string", what, m.key());
        if (metadata) (*metadata)[m.key()] = m->get<std::string>();
      }
      continue;
    }
    SafeTensorEntry e = parse_entry(what, it.key(), *it);
    E2LLM_CHECK(e.end <= data_size,
                "{}: tensor '{}' data [{}, {}) runs past the data section ({} bytes): truncated?",
                what, e.name, e.begin, e.end, data_size);
    entries.push_back(std::move(e));
  }
  // No two tensors may share bytes.
  std::vector<const SafeTensorEntry*> by_offset;
  for (const auto& e : entries)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    E2LLM_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end,
                "{}: tensors '{}' and '{}' overlap in the data section", what,
                by_offset[i - 1]->name, by_offset[i]->name);
  return entries;
}

}  // namespace e2llm
