// Mistral: a Llama without biases whose every layer attends within a sliding
// window (sliding_window; null = full attention, absent = 4096 as in transformers).
#include "models/decoder_families.h"

namespace e2llm::detail {

void parse_mistral_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what) {
  c.family = DecoderFamily::Mistral;
  c.rope = c.local_rope = parse_global_rope(j, c.max_position_embeddings, what);
  c.sliding_window = std::nullopt;
  if (!j.contains("sliding_window")) c.sliding_window = 4096;
  else if (!j["sliding_window"].is_null()) c.sliding_window = json_int(j, "sliding_window", 0, what);
  c.layer_types.assign(c.num_layers, c.sliding_window ? AttentionKind::Sliding : AttentionKind::Full);
}

void mistral_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = c.sliding_window ? nlohmann::json(*c.sliding_window) : nlohmann::json(nullptr);
}

}  // namespace e2llm::detail
