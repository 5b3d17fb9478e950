// libFuzzer target: the encoder config.json parser on arbitrary bytes. Any
// outcome other than a validated EncoderConfig or e2llm::Error is a bug; a
// parsed config must survive a to_json() / from_json() round trip.
// fuzz-sources: src/encoder/encoder_config.cpp src/io/json_fields.cpp src/io/fs.cpp
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "e2llm/encoder/encoder_config.h"
#include "e2llm/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const e2llm::EncoderConfig c = e2llm::EncoderConfig::from_json(j, "fuzz");
    const e2llm::EncoderConfig again = e2llm::EncoderConfig::from_json(c.to_json(), "round trip");
    if (again.hidden_size != c.hidden_size || again.family != c.family || again.head_dim() != c.head_dim()) std::abort();
  } catch (const e2llm::Error&) {
  }
  return 0;
}
