// DecoderConfig: the fields every family shares, dispatch to the family files,
// validation and the JSON writer.
#include "e2llm/decoder_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "e2llm/error.h"
#include "e2llm/fs.h"
#include "models/decoder_families.h"

namespace e2llm {
namespace detail {

namespace {
const nlohmann::json* field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
}  // namespace

double json_number(const nlohmann::json& j, const char* key, double fallback, const std::string& what) {
  const nlohmann::json* v = field(j, key);
  if (!v) return fallback;
  E2LLM_CHECK(v->is_number(), "{}: field '{}' must be a number, got {}", what, key, v->dump());
  return v->get<double>();
}

int64_t json_int(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& what) {
  const nlohmann::json* v = field(j, key);
  if (!v) return fallback;
  bool integral = v->is_number_integer() || (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>());
  E2LLM_CHECK(integral, "{}: field '{}' must be an integer, got {}", what, key, v->dump());
  return v->is_number_integer() ? v->get<int64_t>() : static_cast<int64_t>(v->get<double>());
}

bool json_bool(const nlohmann::json& j, const char* key, bool fallback, const std::string& what) {
  const nlohmann::json* v = field(j, key);
  if (!v) return fallback;
  E2LLM_CHECK(v->is_boolean(), "{}: field '{}' must be true or false, got {}", what, key, v->dump());
  return v->get<bool>();
}

std::string json_string(const nlohmann::json& j, const char* key, const std::string& fallback,
                        const std::string& what) {
  const nlohmann::json* v = field(j, key);
  if (!v) return fallback;
  E2LLM_CHECK(v->is_string(), "{}: field '{}' must be a string, got {}", what, key, v->dump());
  return v->get<std::string>();
}

namespace {

RopeType parse_rope_type(const std::string& name, const std::string& what) {
  if (name == "default") return RopeType::Default;
  if (name == "linear") return RopeType::Linear;
  if (name == "dynamic") return RopeType::Dynamic;
  if (name == "llama3") return RopeType::Llama3;
  if (name == "yarn") return RopeType::Yarn;
  fail("{}: unsupported rope_type '{}' (supported: default, linear, dynamic, llama3, yarn)", what, name);
}

std::optional<double> optional_number(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!field(j, key)) return std::nullopt;
  return json_number(j, key, 0.0, what);
}

std::vector<int64_t> parse_eos(const nlohmann::json& j, const std::string& what) {
  const nlohmann::json* v = field(j, "eos_token_id");
  if (!v) return {};
  if (v->is_number_integer()) return {v->get<int64_t>()};
  E2LLM_CHECK(v->is_array(), "{}: field 'eos_token_id' must be an integer or a list, got {}", what, v->dump());
  std::vector<int64_t> ids;
  for (const auto& id : *v) {
    E2LLM_CHECK(id.is_number_integer(), "{}: 'eos_token_id' holds a non-integer {}", what, id.dump());
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

std::optional<int64_t> optional_int(const nlohmann::json& j, const char* key, const std::string& what) {
  if (!field(j, key)) return std::nullopt;
  return json_int(j, key, 0, what);
}

Activation parse_activation(const std::string& name, const std::string& what) {
  if (name == "silu" || name == "swish") return Activation::Silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "gelu") return Activation::Gelu;
  fail("{}: unsupported activation '{}' (supported: silu, gelu, gelu_pytorch_tanh)", what, name);
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Silu: return "silu";
    case Activation::GeluTanh: return "gelu_pytorch_tanh";
    case Activation::Gelu: return "gelu";
  }
  return "silu";
}

}  // namespace

RopeConfig parse_rope_dict(const nlohmann::json& p, double theta_fallback, int64_t max_positions,
                           const std::string& what) {
  E2LLM_CHECK(p.is_object(), "{}: rope parameters must be an object, got {}", what, p.dump());
  RopeConfig r;
  std::string type = json_string(p, "rope_type", json_string(p, "type", "default", what), what);
  r.type = parse_rope_type(type, what);
  r.theta = json_number(p, "rope_theta", theta_fallback, what);
  r.factor = json_number(p, "factor", 1.0, what);
  r.original_max_position_embeddings = json_int(p, "original_max_position_embeddings", max_positions, what);
  r.low_freq_factor = json_number(p, "low_freq_factor", 1.0, what);
  r.high_freq_factor = json_number(p, "high_freq_factor", 4.0, what);
  r.attention_factor = optional_number(p, "attention_factor", what);
  r.mscale = optional_number(p, "mscale", what);
  r.mscale_all_dim = optional_number(p, "mscale_all_dim", what);
  r.beta_fast = json_number(p, "beta_fast", 32.0, what);
  r.beta_slow = json_number(p, "beta_slow", 1.0, what);
  r.truncate = json_bool(p, "truncate", true, what);
  double partial = json_number(p, "partial_rotary_factor", 1.0, what);
  E2LLM_CHECK(partial == 1.0, "{}: partial_rotary_factor {} is not supported (only 1.0)", what, partial);
  if (r.type == RopeType::Llama3 || r.type == RopeType::Yarn)
    E2LLM_CHECK(field(p, "factor"), "{}: rope_type '{}' needs 'factor'", what, type);
  return r;
}

nlohmann::json rope_to_json(const RopeConfig& r) {
  nlohmann::json j = {{"rope_type", to_string(r.type)}, {"rope_theta", r.theta}};
  if (r.type == RopeType::Default) return j;
  j["factor"] = r.factor;
  if (r.type == RopeType::Llama3) {
    j["low_freq_factor"] = r.low_freq_factor;
    j["high_freq_factor"] = r.high_freq_factor;
    j["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
  if (r.type == RopeType::Yarn) {
    j["original_max_position_embeddings"] = r.original_max_position_embeddings;
    j["beta_fast"] = r.beta_fast;
    j["beta_slow"] = r.beta_slow;
    j["truncate"] = r.truncate;
    if (r.attention_factor) j["attention_factor"] = *r.attention_factor;
    if (r.mscale) j["mscale"] = *r.mscale;
    if (r.mscale_all_dim) j["mscale_all_dim"] = *r.mscale_all_dim;
  }
  return j;
}

RopeConfig parse_global_rope(const nlohmann::json& j, int64_t max_positions, const std::string& what) {
  double theta = json_number(j, "rope_theta", 10000.0, what);
  if (const nlohmann::json* p = field(j, "rope_parameters")) return parse_rope_dict(*p, theta, max_positions, what);
  if (const nlohmann::json* p = field(j, "rope_scaling")) return parse_rope_dict(*p, theta, max_positions, what);
  return parse_rope_dict(nlohmann::json::object(), theta, max_positions, what);
}

std::vector<AttentionKind> parse_layer_types(const nlohmann::json& types, const std::string& what) {
  E2LLM_CHECK(types.is_array(), "{}: 'layer_types' must be a list, got {}", what, types.dump());
  std::vector<AttentionKind> out;
  for (const auto& t : types) {
    std::string name = t.is_string() ? t.get<std::string>() : t.dump();
    if (name == "full_attention") out.push_back(AttentionKind::Full);
    else if (name == "sliding_attention") out.push_back(AttentionKind::Sliding);
    else fail("{}: layer_types holds '{}' (expected full_attention or sliding_attention)", what, name);
  }
  return out;
}

nlohmann::json layer_types_to_json(const std::vector<AttentionKind>& types) {
  nlohmann::json out = nlohmann::json::array();
  for (auto t : types) out.push_back(t == AttentionKind::Full ? "full_attention" : "sliding_attention");
  return out;
}

void parse_qwen_sliding(const nlohmann::json& j, DecoderConfig& c, const std::string& what) {
  // transformers: sliding_window = sliding_window if use_sliding_window else None
  bool use_sliding = json_bool(j, "use_sliding_window", false, what);
  c.sliding_window = std::nullopt;
  if (use_sliding && field(j, "sliding_window")) c.sliding_window = json_int(j, "sliding_window", 0, what);
  if (const nlohmann::json* types = field(j, "layer_types")) {
    c.layer_types = parse_layer_types(*types, what);
    return;
  }
  int64_t max_window_layers = json_int(j, "max_window_layers", 28, what);
  c.layer_types.clear();
  for (int64_t i = 0; i < c.num_layers; ++i)
    c.layer_types.push_back(c.sliding_window && i >= max_window_layers ? AttentionKind::Sliding
                                                                        : AttentionKind::Full);
}

void qwen_sliding_to_json(const DecoderConfig& c, nlohmann::json& j) {
  j["use_sliding_window"] = c.has_sliding_layers();
  j["sliding_window"] = c.sliding_window ? nlohmann::json(*c.sliding_window) : nlohmann::json(nullptr);
  j["layer_types"] = layer_types_to_json(c.layer_types);
  int64_t first_sliding = c.num_layers;
  for (int64_t i = 0; i < c.num_layers; ++i)
    if (c.layer_types[i] == AttentionKind::Sliding) first_sliding = std::min(first_sliding, i);
  j["max_window_layers"] = first_sliding;
}

}  // namespace detail

using namespace detail;

namespace {

// The fields every family spells the same way.
void parse_common(const nlohmann::json& j, DecoderConfig& c, const std::string& what) {
  c.vocab_size = json_int(j, "vocab_size", 0, what);
  c.hidden_size = json_int(j, "hidden_size", 0, what);
  c.intermediate_size = json_int(j, "intermediate_size", 0, what);
  c.num_layers = json_int(j, "num_hidden_layers", 0, what);
  c.num_heads = json_int(j, "num_attention_heads", 0, what);
  c.num_kv_heads = json_int(j, "num_key_value_heads", c.num_heads, what);
  c.head_dim = json_int(j, "head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0, what);
  c.max_position_embeddings = json_int(j, "max_position_embeddings", 2048, what);
  c.rms_norm_eps = json_number(j, "rms_norm_eps", 1e-6, what);
  c.activation = parse_activation(json_string(j, "hidden_act", "silu", what), what);
  c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", false, what);
  c.bos_token_id = optional_int(j, "bos_token_id", what);
  c.pad_token_id = optional_int(j, "pad_token_id", what);
  c.eos_token_ids = parse_eos(j, what);
  c.torch_dtype = json_string(j, "dtype", json_string(j, "torch_dtype", "", what), what);
  c.layer_types.assign(std::max<int64_t>(c.num_layers, 0), AttentionKind::Full);
}

}  // namespace

DecoderConfig DecoderConfig::from_json(const nlohmann::json& input, const std::string& what) {
  E2LLM_CHECK(input.is_object(), "{}: a model config must be a JSON object", what);
  std::string model_type = json_string(input, "model_type", "", what);
  E2LLM_CHECK(!model_type.empty(), "{}: field 'model_type' is missing", what);
  const nlohmann::json* j = &input;
  if (model_type == "gemma3") {  // multimodal wrapper: the language model is text_config
    j = field(input, "text_config");
    E2LLM_CHECK(j && j->is_object(), "{}: a 'gemma3' config needs a 'text_config' object", what);
  }
  DecoderConfig c;
  c.model_type = model_type;
  parse_common(*j, c, what);
  if (model_type == "llama") parse_llama_config(*j, c, what);
  else if (model_type == "mistral") parse_mistral_config(*j, c, what);
  else if (model_type == "qwen2") parse_qwen2_config(*j, c, what);
  else if (model_type == "qwen3") parse_qwen3_config(*j, c, what);
  else if (model_type == "gemma3_text" || model_type == "gemma3") parse_gemma3_config(*j, c, what);
  else
    fail("{}: unsupported model_type '{}' (supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3)", what,
         model_type);
  if (c.eos_token_ids.empty() && model_type == "gemma3") c.eos_token_ids = parse_eos(input, what);
  c.validate(what);
  return c;
}

DecoderConfig DecoderConfig::from_file(const std::string& path) { return from_json(read_json_file(path), path); }

void DecoderConfig::validate(const std::string& what) const {
  auto positive = [&](int64_t v, const char* name) {
    E2LLM_CHECK(v > 0, "{}: '{}' must be positive, got {}", what, name, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(max_position_embeddings, "max_position_embeddings");
  E2LLM_CHECK(num_layers <= 4096 && num_heads <= 4096 && head_dim <= 65536,
              "{}: implausible sizes (layers {}, heads {}, head_dim {})", what, num_layers, num_heads, head_dim);
  E2LLM_CHECK(num_heads % num_kv_heads == 0,
              "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", what, num_heads,
              num_kv_heads);
  E2LLM_CHECK(head_dim % 2 == 0, "{}: head_dim {} must be even for RoPE", what, head_dim);
  E2LLM_CHECK(rms_norm_eps > 0, "{}: 'rms_norm_eps' must be positive, got {}", what, rms_norm_eps);
  E2LLM_CHECK(static_cast<int64_t>(layer_types.size()) == num_layers,
              "{}: 'layer_types' has {} entries for {} layers", what, layer_types.size(), num_layers);
  if (has_sliding_layers())
    E2LLM_CHECK(sliding_window && *sliding_window > 0, "{}: sliding-window layers need a positive 'sliding_window'",
                what);
  for (const RopeConfig* r : {&rope, &local_rope}) {
    E2LLM_CHECK(r->theta > 0, "{}: 'rope_theta' must be positive, got {}", what, r->theta);
    if (r->type != RopeType::Default)
      E2LLM_CHECK(r->factor > 0, "{}: rope 'factor' must be positive, got {}", what, r->factor);
    if (r->type == RopeType::Llama3)
      E2LLM_CHECK(r->high_freq_factor > r->low_freq_factor && r->original_max_position_embeddings > 0,
                  "{}: llama3 rope needs high_freq_factor > low_freq_factor and original_max_position_embeddings",
                  what);
    if (r->type == RopeType::Yarn)
      E2LLM_CHECK(r->original_max_position_embeddings > 0, "{}: yarn rope needs original_max_position_embeddings",
                  what);
  }
  if (query_pre_attn_scalar)
    E2LLM_CHECK(*query_pre_attn_scalar > 0, "{}: 'query_pre_attn_scalar' must be positive", what);
  for (int64_t id : eos_token_ids)
    E2LLM_CHECK(id >= 0 && id < vocab_size, "{}: eos_token_id {} outside the vocabulary of {}", what, id, vocab_size);
}

bool DecoderConfig::has_sliding_layers() const {
  for (auto t : layer_types)
    if (t == AttentionKind::Sliding) return true;
  return false;
}

double DecoderConfig::attention_scale() const {
  return 1.0 / std::sqrt(query_pre_attn_scalar ? *query_pre_attn_scalar : static_cast<double>(head_dim));
}

nlohmann::json DecoderConfig::to_json() const {
  nlohmann::json j = {{"model_type", model_type == "gemma3" ? "gemma3_text" : model_type},
                      {"vocab_size", vocab_size},
                      {"hidden_size", hidden_size},
                      {"intermediate_size", intermediate_size},
                      {"num_hidden_layers", num_layers},
                      {"num_attention_heads", num_heads},
                      {"num_key_value_heads", num_kv_heads},
                      {"head_dim", head_dim},
                      {"max_position_embeddings", max_position_embeddings},
                      {"rms_norm_eps", rms_norm_eps},
                      {"hidden_act", activation_name(activation)},
                      {"tie_word_embeddings", tie_word_embeddings},
                      {"rope_parameters", rope_to_json(rope)},
                      {"dtype", torch_dtype.empty() ? "float32" : torch_dtype}};
  j["bos_token_id"] = bos_token_id ? nlohmann::json(*bos_token_id) : nlohmann::json(nullptr);
  j["pad_token_id"] = pad_token_id ? nlohmann::json(*pad_token_id) : nlohmann::json(nullptr);
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  switch (family) {
    case DecoderFamily::Llama: llama_config_json(*this, j); break;
    case DecoderFamily::Mistral: mistral_config_json(*this, j); break;
    case DecoderFamily::Qwen2: qwen2_config_json(*this, j); break;
    case DecoderFamily::Qwen3: qwen3_config_json(*this, j); break;
    case DecoderFamily::Gemma3: gemma3_config_json(*this, j); break;
  }
  return j;
}

const char* to_string(DecoderFamily family) {
  switch (family) {
    case DecoderFamily::Llama: return "llama";
    case DecoderFamily::Mistral: return "mistral";
    case DecoderFamily::Qwen2: return "qwen2";
    case DecoderFamily::Qwen3: return "qwen3";
    case DecoderFamily::Gemma3: return "gemma3_text";
  }
  return "?";
}

const char* to_string(RopeType type) {
  switch (type) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Dynamic: return "dynamic";
    case RopeType::Llama3: return "llama3";
    case RopeType::Yarn: return "yarn";
  }
  return "?";
}

}  // namespace e2llm
