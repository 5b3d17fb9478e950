// libFuzzer target: the safetensors header parser on arbitrary bytes. It must
// either accept (and then every tensor lies inside the data section) or throw
// e2llm::Error; anything else (a crash, a sanitizer report) is a bug.
// fuzz-sources: src/io/safetensors_header.cpp
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "e2llm/core/error.h"
#include "e2llm/io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, std::string> metadata;
  try {
    const auto entries = e2llm::parse_safetensors_header(data, size, "fuzz", &metadata);
    const uint64_t data_section = size - 8 - e2llm::safetensors_header_length(data);
    for (const auto& e : entries)
      if (e.begin > e.end || e.end > data_section) std::abort();  // accepted an out-of-bounds tensor
  } catch (const e2llm::Error&) {
  }
  return 0;
}
