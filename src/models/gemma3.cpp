// Gemma 3 (text): token embeddings scaled by sqrt(hidden_size) (in the weight
// dtype), RMSNorm scaling by (1 + w), norms before and after both attention
// and MLP, q/k RMSNorm, GeGLU (gelu tanh) MLP, softmax scale
// query_pre_attn_scalar^-1/2, and interleaved layers: "sliding_attention"
// layers see a local window and use rope_local_base_freq without scaling;
// "full_attention" layers use rope_theta with rope_scaling. Tied embeddings.
#include <cmath>

#include "e2llm/error.h"
#include "models/decoder_families.h"

namespace e2llm::detail {

namespace {

// transformers 5.x nests rope_parameters by layer type; older configs use
// rope_theta (+ rope_scaling) for global layers and rope_local_base_freq for local ones.
void parse_gemma_ropes(const nlohmann::json& j, DecoderConfig& c, const std::string& what) {
  double global_theta = json_number(j, "rope_theta", 1'000'000.0, what);
  double local_theta = json_number(j, "rope_local_base_freq", 10'000.0, what);
  nlohmann::json full = nlohmann::json::object(), sliding = nlohmann::json::object();
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& p = j["rope_parameters"];
    if (p.contains("full_attention") || p.contains("sliding_attention")) {
      if (p.contains("full_attention") && !p["full_attention"].is_null()) full = p["full_attention"];
      if (p.contains("sliding_attention") && !p["sliding_attention"].is_null()) sliding = p["sliding_attention"];
    } else {
      full = p;
    }
  } else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    full = j["rope_scaling"];
  }
  c.rope = parse_rope_dict(full, global_theta, c.max_position_embeddings, what);
  c.local_rope = parse_rope_dict(sliding, local_theta, c.max_position_embeddings, what);
}

}  // namespace

void parse_gemma3_config(const nlohmann::json& j, DecoderConfig& c, const std::string& what) {
  c.family = DecoderFamily::Gemma3;
  bool bias = json_bool(j, "attention_bias", false, what);
  c.q_bias = c.k_bias = c.v_bias = c.o_bias = bias;
  c.qk_norm = true;
  c.gemma_norms = true;
  c.head_dim = json_int(j, "head_dim", 256, what);
  c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", true, what);
  c.embedding_scale = std::sqrt(static_cast<double>(c.hidden_size));
  c.query_pre_attn_scalar = json_number(j, "query_pre_attn_scalar", 256.0, what);
  std::string act = json_string(j, "hidden_activation", json_string(j, "hidden_act", "gelu_pytorch_tanh", what), what);
  E2LLM_CHECK(act == "gelu_pytorch_tanh" || act == "gelu", "{}: unsupported Gemma activation '{}'", what, act);
  c.activation = act == "gelu" ? Activation::Gelu : Activation::GeluTanh;
  // attn_logit_softcapping is read for validation only: transformers' Gemma 3
  // attention never applies it (unlike Gemma 2), and we match transformers.
  json_number(j, "attn_logit_softcapping", 0.0, what);
  if (j.contains("final_logit_softcapping") && !j["final_logit_softcapping"].is_null())
    c.final_logit_softcapping = json_number(j, "final_logit_softcapping", 0.0, what);
  E2LLM_CHECK(!json_bool(j, "use_bidirectional_attention", false, what),
              "{}: use_bidirectional_attention (embedding Gemma) is not supported", what);
  c.sliding_window = json_int(j, "sliding_window", 4096, what);
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    c.layer_types = parse_layer_types(j["layer_types"], what);
  } else {
    int64_t pattern = json_int(j, "sliding_window_pattern", 6, what);
    E2LLM_CHECK(pattern > 0, "{}: sliding_window_pattern must be positive", what);
    c.layer_types.clear();
    for (int64_t i = 0; i < c.num_layers; ++i)
      c.layer_types.push_back((i + 1) % pattern ? AttentionKind::Sliding : AttentionKind::Full);
  }
  parse_gemma_ropes(j, c, what);
}

void gemma3_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"Gemma3ForCausalLM"};
  j.erase("hidden_act");
  j["hidden_activation"] = c.activation == Activation::Gelu ? "gelu" : "gelu_pytorch_tanh";
  j["attention_bias"] = c.q_bias;
  double scalar = c.query_pre_attn_scalar.value_or(static_cast<double>(c.head_dim));
  // transformers declares it an int (strict config classes reject 256.0).
  if (scalar == std::floor(scalar)) j["query_pre_attn_scalar"] = static_cast<int64_t>(scalar);
  else j["query_pre_attn_scalar"] = scalar;
  j["sliding_window"] = c.sliding_window.value_or(4096);
  j["layer_types"] = layer_types_to_json(c.layer_types);
  j["rope_parameters"] = {{"full_attention", rope_to_json(c.rope)},
                          {"sliding_attention", rope_to_json(c.local_rope)}};
  j["attn_logit_softcapping"] =
      c.attn_logit_softcapping ? nlohmann::json(*c.attn_logit_softcapping) : nlohmann::json(nullptr);
  j["final_logit_softcapping"] =
      c.final_logit_softcapping ? nlohmann::json(*c.final_logit_softcapping) : nlohmann::json(nullptr);
}

}  // namespace e2llm::detail
