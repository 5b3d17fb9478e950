// libFuzzer target: the GGUF header parser on arbitrary bytes. It must either
// accept (and then every tensor lies inside the buffer) or throw e2llm::Error;
// anything else (a crash, a hang, a sanitizer report, an allocation far beyond
// the input's size) is a bug.
// fuzz-sources: src/io/gguf_format.cpp src/io/gguf_value.cpp
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const e2llm::GgufHeader h = e2llm::parse_gguf(data, size, "fuzz.gguf");
    for (const auto& t : h.tensors)
      if (h.data_offset + t.offset + t.n_bytes > size) std::abort();  // accepted out-of-bounds data
    for (const auto& [key, value] : h.metadata) (void)value.to_text();
  } catch (const e2llm::Error&) {
  }
  return 0;
}
