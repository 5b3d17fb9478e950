// Gemma 3 (text): token embeddings scaled by sqrt(hidden_size) (in the weight
// dtype), RMSNorm scaling by (1 + w), norms before and after both attention
// and MLP, q/k RMSNorm, GeGLU (gelu tanh) MLP, softmax scale
// query_pre_attn_scalar^-1/2, and interleaved layers: "sliding_attention"
// layers see a local window and use rope_local_base_freq without scaling;
// "full_attention" layers use rope_theta with rope_scaling. Tied embeddings.
#include <cmath>

#include "e2llm/core/error.h"
#include "decoder/decoder_families.h"

namespace e2llm::detail {

using json_fields::find;
using json_fields::value_or;
using json_fields::Where;

namespace {

// A rope parameter dict and where it is, for messages.
struct RopeSource {
  const nlohmann::json* params;
  Where where;
};

// transformers 5.x nests rope_parameters by layer type; older configs use
// rope_theta (+ rope_scaling) for global layers and rope_local_base_freq for local ones.
void parse_gemma_ropes(const nlohmann::json& j, DecoderConfig& c, const Where& where) {
  static const nlohmann::json kNone = nlohmann::json::object();
  const double global_theta = value_or<double>(j, "rope_theta", 1'000'000.0, where);
  const double local_theta = value_or<double>(j, "rope_local_base_freq", 10'000.0, where);
  RopeSource full{&kNone, where}, sliding{&kNone, where};
  if (const nlohmann::json* p = find(j, "rope_parameters", where)) {
    const Where at = where.key("rope_parameters");
    json_fields::require_object(*p, at);
    if (p->contains("full_attention") || p->contains("sliding_attention")) {
      if (const nlohmann::json* f = find(*p, "full_attention", at)) full = {f, at.key("full_attention")};
      if (const nlohmann::json* s = find(*p, "sliding_attention", at)) sliding = {s, at.key("sliding_attention")};
    } else {
      full = {p, at};
    }
  } else if (const nlohmann::json* s = find(j, "rope_scaling", where)) {
    full = {s, where.key("rope_scaling")};
  }
  c.rope = parse_rope_dict(*full.params, global_theta, c.max_position_embeddings, full.where);
  c.local_rope = parse_rope_dict(*sliding.params, local_theta, c.max_position_embeddings, sliding.where);
}

// Every pattern-th layer attends globally, the others within the window.
std::vector<AttentionKind> layers_by_pattern(int64_t num_layers, int64_t pattern) {
  std::vector<AttentionKind> out;
  for (int64_t i = 0; i < num_layers; ++i)
    out.push_back((i + 1) % pattern ? AttentionKind::Sliding : AttentionKind::Full);
  return out;
}

}  // namespace

void parse_gemma3_config(const nlohmann::json& j, DecoderConfig& c, const Where& where) {
  c.family = DecoderFamily::Gemma3;
  const bool bias = value_or<bool>(j, "attention_bias", false, where);
  c.q_bias = c.k_bias = c.v_bias = c.o_bias = bias;
  c.qk_norm = true;
  c.gemma_norms = true;
  c.head_dim = value_or<int64_t>(j, "head_dim", 256, where);
  c.tie_word_embeddings = value_or<bool>(j, "tie_word_embeddings", true, where);
  c.embedding_scale = std::sqrt(static_cast<double>(c.hidden_size));
  c.query_pre_attn_scalar = value_or<double>(j, "query_pre_attn_scalar", 256.0, where);
  const std::string act = value_or<std::string>(
      j, "hidden_activation", value_or<std::string>(j, "hidden_act", "gelu_pytorch_tanh", where), where);
  E2LLM_CHECK(act == "gelu_pytorch_tanh" || act == "gelu",
              "{}unsupported Gemma activation '{}' (hidden_activation: gelu_pytorch_tanh or gelu)", where.prefix(),
              act);
  c.activation = act == "gelu" ? Activation::Gelu : Activation::GeluTanh;
  // attn_logit_softcapping is read for validation only: transformers' Gemma 3
  // attention never applies it (unlike Gemma 2), and we match transformers.
  json_fields::optional<double>(j, "attn_logit_softcapping", where);
  c.final_logit_softcapping = json_fields::optional<double>(j, "final_logit_softcapping", where);
  E2LLM_CHECK(!value_or<bool>(j, "use_bidirectional_attention", false, where),
              "{}use_bidirectional_attention (embedding Gemma) is not supported", where.prefix());
  c.sliding_window = value_or<int64_t>(j, "sliding_window", 4096, where);
  if (const nlohmann::json* types = find(j, "layer_types", where)) {
    c.layer_types = parse_layer_types(*types, where.key("layer_types"));
  } else {
    const int64_t pattern = value_or<int64_t>(j, "sliding_window_pattern", 6, where);
    E2LLM_CHECK(pattern > 0, "{} is {}, must be positive", where.key("sliding_window_pattern").describe(), pattern);
    c.layer_types = layers_by_pattern(c.num_layers, pattern);
  }
  parse_gemma_ropes(j, c, where);
}

void gemma3_config_json(const DecoderConfig& c, nlohmann::json& j) {
  j["architectures"] = {"Gemma3ForCausalLM"};
  j.erase("hidden_act");
  j["hidden_activation"] = c.activation == Activation::Gelu ? "gelu" : "gelu_pytorch_tanh";
  j["attention_bias"] = c.q_bias;
  double scalar = c.query_pre_attn_scalar.value_or(static_cast<double>(c.head_dim));
  // transformers declares it an int (strict config classes reject 256.0);
  // below 2^53 the cast is exact (beyond int64_t's range it would be undefined).
  if (scalar == std::floor(scalar) && std::abs(scalar) < 9007199254740992.0)
    j["query_pre_attn_scalar"] = static_cast<int64_t>(scalar);
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
