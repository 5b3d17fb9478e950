// Qwen2 / Qwen2.5: a Llama with biases on q, k and v (never on o), often tied
// embeddings, and optional sliding-window attention on layers >= max_window_layers.
#include "decoder/decoder_families.h"

namespace e2llm::detail {

void parse_qwen2_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where) {
  c.family = DecoderFamily::Qwen2;
  c.q_bias = c.k_bias = c.v_bias = true;
  c.o_bias = false;
  c.rope = c.local_rope = parse_global_rope(j, c.max_position_embeddings, where);
  parse_qwen_sliding(j, c, where);
}

void qwen2_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"Qwen2ForCausalLM"};
  qwen_sliding_to_json(c, j);
}

}  // namespace e2llm::detail
