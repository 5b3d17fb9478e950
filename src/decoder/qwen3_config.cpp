// Qwen3: a Qwen2 without the forced q/k/v biases (attention_bias applies to all
// four projections) and with RMSNorm over head_dim on queries and keys
// (q_norm, k_norm) before RoPE. head_dim defaults to 128, independent of hidden_size.
#include "decoder/decoder_families.h"

namespace e2llm::detail {

void parse_qwen3_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where) {
  c.family = DecoderFamily::Qwen3;
  const bool bias = json_fields::value_or<bool>(j, "attention_bias", false, where);
  c.q_bias = c.k_bias = c.v_bias = c.o_bias = bias;
  c.qk_norm = true;
  c.head_dim = json_fields::value_or<int64_t>(j, "head_dim", 128, where);
  c.rope = c.local_rope = parse_global_rope(j, c.max_position_embeddings, where);
  parse_qwen_sliding(j, c, where);
}

void qwen3_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"Qwen3ForCausalLM"};
  j["attention_bias"] = c.q_bias;
  qwen_sliding_to_json(c, j);
}

}  // namespace e2llm::detail
