// libFuzzer target: GGUF metadata -> Hugging Face config (gguf_to_hf_config)
// -> DecoderConfig, on arbitrary bytes parsed as a GGUF header. Any outcome
// other than a validated DecoderConfig or e2llm::Error is a bug (a crash, a
// sanitizer report, a hang on a huge layer count, an allocation far beyond
// the input's size).
// fuzz-sources: src/io/gguf_format.cpp src/io/gguf_value.cpp src/io/gguf_config.cpp src/decoder/decoder_config.cpp src/decoder/llama_config.cpp src/decoder/mistral_config.cpp src/decoder/qwen2_config.cpp src/decoder/qwen3_config.cpp src/decoder/gemma3_config.cpp src/io/json_fields.cpp src/io/fs.cpp
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/decoder/decoder_config.h"
#include "e2llm/io/gguf_config.h"
#include "e2llm/io/gguf_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  e2llm::DecoderConfig c;
  try {
    const e2llm::GgufHeader h = e2llm::parse_gguf(data, size, "fuzz.gguf");
    c = e2llm::DecoderConfig::from_json(e2llm::gguf_to_hf_config(h, "fuzz.gguf"), "fuzz.gguf");
  } catch (const e2llm::Error&) {
    return 0;
  }
  const e2llm::DecoderConfig again = e2llm::DecoderConfig::from_json(c.to_json(), "round trip");
  if (again.num_layers != c.num_layers || again.layer_types != c.layer_types) std::abort();
  return 0;
}
