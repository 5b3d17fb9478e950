// Llama 2 / 3.x (and SmolLM2, which is a Llama): pre-norm blocks, SwiGLU MLP,
// optional biases, RoPE with any scaling (llama3 for 3.1+).
#include "decoder/decoder_families.h"

namespace e2llm::detail {

void parse_llama_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where) {
  c.family = DecoderFamily::Llama;
  const bool bias = json_fields::value_or<bool>(j, "attention_bias", false, where);
  c.q_bias = c.k_bias = c.v_bias = c.o_bias = bias;
  c.mlp_bias = json_fields::value_or<bool>(j, "mlp_bias", false, where);
  c.rope = c.local_rope = parse_global_rope(j, c.max_position_embeddings, where);
}

void llama_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"LlamaForCausalLM"};
  j["attention_bias"] = c.q_bias;
  j["mlp_bias"] = c.mlp_bias;
}

}  // namespace e2llm::detail
