// Mistral: a Llama without biases whose every layer attends within a sliding
// window (sliding_window; null = full attention, absent = 4096 as in transformers).
#include "decoder/decoder_families.h"

namespace e2llm::detail {

void parse_mistral_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where) {
  c.family = DecoderFamily::Mistral;
  c.rope = c.local_rope = parse_global_rope(j, c.max_position_embeddings, where);
  // Here absent and null differ: null turns the window off.
  c.sliding_window = j.contains("sliding_window") ? json_fields::optional<int64_t>(j, "sliding_window", where)
                                                  : std::optional<int64_t>(4096);
  c.layer_types.assign(c.num_layers, c.sliding_window ? AttentionKind::Sliding : AttentionKind::Full);
}

void mistral_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = c.sliding_window ? nlohmann::json(*c.sliding_window) : nlohmann::json(nullptr);
}

}  // namespace e2llm::detail
