// libFuzzer target: the decoder config.json parser (every family, rope_scaling
// / rope_parameters, layer_types, the Gemma 3 wrapper) on arbitrary bytes. Any
// outcome other than a validated DecoderConfig or e2llm::Error is a bug; a
// parsed config must survive a to_json() / from_json() round trip.
// fuzz-sources: src/decoder/decoder_config.cpp src/decoder/llama_config.cpp src/decoder/mistral_config.cpp src/decoder/qwen2_config.cpp src/decoder/qwen3_config.cpp src/decoder/gemma3_config.cpp src/io/json_fields.cpp src/io/fs.cpp
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/decoder/decoder_config.h"

namespace {

// What to_json() must carry over exactly.
bool same_shape(const e2llm::DecoderConfig& a, const e2llm::DecoderConfig& b) {
  return a.family == b.family && a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size &&
         a.num_layers == b.num_layers && a.num_heads == b.num_heads && a.num_kv_heads == b.num_kv_heads &&
         a.head_dim == b.head_dim && a.layer_types == b.layer_types && a.eos_token_ids == b.eos_token_ids &&
         a.rope.type == b.rope.type && a.rope.theta == b.rope.theta && a.local_rope.type == b.local_rope.type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  e2llm::DecoderConfig c;
  try {
    c = e2llm::DecoderConfig::from_json(j, "fuzz");
  } catch (const e2llm::Error&) {
    return 0;
  }
  // The writer's output is a config the reader takes back: any error here is a bug too.
  const e2llm::DecoderConfig again = e2llm::DecoderConfig::from_json(c.to_json(), "round trip");
  if (!same_shape(c, again)) std::abort();
  (void)c.attention_scale();
  return 0;
}
