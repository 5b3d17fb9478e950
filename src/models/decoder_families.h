// Per-family parts of the decoder configuration: each family's file
// (llama.cpp, mistral.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp) reads the
// config.json fields only it has and writes them back.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "e2llm/decoder_config.h"

namespace e2llm::detail {

// Shared readers (decoder_config.cpp): a field, or `fallback` when absent or null.
double json_number(const nlohmann::json& j, const char* key, double fallback, const std::string& what);
int64_t json_int(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& what);
bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& what);
std::string json_string(const nlohmann::json& j, const char* key, const std::string& fallback,
                        const std::string& what);
// One rope parameter dict (rope_type/type, rope_theta, factor, ...).
RopeConfig parse_rope_dict(const nlohmann::json& params, double theta_fallback, int64_t max_positions,
                           const std::string& what);
nlohmann::json rope_to_json(const RopeConfig& rope);
// layer_types: ["full_attention", "sliding_attention", ...]
std::vector<AttentionKind> parse_layer_types(const nlohmann::json& types, const std::string& what);
nlohmann::json layer_types_to_json(const std::vector<AttentionKind>& types);
// The single (non-nested) rope of llama-like configs: rope_parameters, or
// legacy rope_theta + rope_scaling.
RopeConfig parse_global_rope(const nlohmann::json& j, int64_t max_positions, const std::string& what);
// Qwen2/Qwen3: use_sliding_window, sliding_window, max_window_layers, layer_types.
void parse_qwen_sliding(const nlohmann::json& j, DecoderConfig& c, const std::string& what);
void qwen_sliding_to_json(const DecoderConfig& c, nlohmann::json& j);

void parse_llama_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what);
void parse_mistral_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what);
void parse_qwen2_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what);
void parse_qwen3_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what);
void parse_gemma3_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what);

void llama_config_json(const DecoderConfig& c, nlohmann::json& j);
void mistral_config_json(const DecoderConfig& c, nlohmann::json& j);
void qwen2_config_json(const DecoderConfig& c, nlohmann::json& j);
void qwen3_config_json(const DecoderConfig& c, nlohmann::json& j);
void gemma3_config_json(const DecoderConfig& c, nlohmann::json& j);

}  // namespace e2llm::detail
