// Per-family parts of the decoder configuration: each family's file
// (llama_config.cpp, mistral_config.cpp, qwen2_config.cpp, qwen3_config.cpp,
// gemma3_config.cpp) reads the config.json fields only it has and writes them
// back. Fields are read with the checked readers of io/json_fields.h; `where`
// names the object being read (the file, and "text_config" inside a
// multimodal Gemma 3 config).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "e2llm/decoder/decoder_config.h"
#include "io/json_fields.h"

namespace e2llm::detail {

// One rope parameter dict (rope_type/type, rope_theta, factor, ...).
RopeConfig parse_rope_dict(const nlohmann::json& params, double theta_fallback, int64_t max_positions,
                           const json_fields::Where& where);
nlohmann::json rope_to_json(const RopeConfig& rope);
// layer_types: ["full_attention", "sliding_attention", ...]
std::vector<AttentionKind> parse_layer_types(const nlohmann::json& types, const json_fields::Where& where);
nlohmann::json layer_types_to_json(const std::vector<AttentionKind>& types);
// The single (non-nested) rope of llama-like configs: rope_parameters, or
// legacy rope_theta + rope_scaling.
RopeConfig parse_global_rope(const nlohmann::json& j, int64_t max_positions, const json_fields::Where& where);
// Qwen2/Qwen3: use_sliding_window, sliding_window, max_window_layers, layer_types.
void parse_qwen_sliding(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);
void qwen_sliding_to_json(const DecoderConfig& c, nlohmann::json& j);

void parse_llama_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);
void parse_mistral_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);
void parse_qwen2_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);
void parse_qwen3_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);
void parse_gemma3_config(const nlohmann::json& j, DecoderConfig& c, const json_fields::Where& where);

void llama_config_json(const DecoderConfig& c, nlohmann::json& j);
void mistral_config_json(const DecoderConfig& c, nlohmann::json& j);
void qwen2_config_json(const DecoderConfig& c, nlohmann::json& j);
void qwen3_config_json(const DecoderConfig& c, nlohmann::json& j);
void gemma3_config_json(const DecoderConfig& c, nlohmann::json& j);

}  // namespace e2llm::detail
