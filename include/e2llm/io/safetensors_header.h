// The safetensors header parser on its own, free of LibTorch so the fuzzer can
// build it with clang and sanitizers alone. Readers use e2llm/safetensors.h.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace e2llm {

struct SafeTensorEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // relative to the data section
  uint64_t end = 0;
};

// Parses and validates a header: JSON syntax, dtypes, shapes against
// data_offsets, every tensor inside the data section, no overlaps. `data` and
// `size` are the whole file; `what` names the file in error messages.
std::vector<SafeTensorEntry> parse_safetensors_header(const uint8_t* data, size_t size,
                                                      const std::string& what,
                                                      std::map<std::string, std::string>* metadata);

// The u64 little-endian at the file's start; only valid on >= 8 bytes.
uint64_t safetensors_header_length(const uint8_t* file_start);

size_t safetensors_dtype_size(const std::string& name);  // throws for unsupported

}  // namespace e2llm
