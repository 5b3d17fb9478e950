// DecoderConfig: the fields every family shares, dispatch to the family files,
// validation and the JSON writer.
#include "e2llm/decoder/decoder_config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "decoder/decoder_families.h"
#include "io/json_fields.h"

namespace e2llm {
namespace detail {

using json_fields::find;
using json_fields::optional;
using json_fields::value_or;
using json_fields::Where;

namespace {

RopeType parse_rope_type(const std::string& name, const Where& where) {
  if (name == "default") return RopeType::Default;
  if (name == "linear") return RopeType::Linear;
  if (name == "dynamic") return RopeType::Dynamic;
  if (name == "llama3") return RopeType::Llama3;
  if (name == "yarn") return RopeType::Yarn;
  fail("{}: unsupported rope_type '{}' (supported: default, linear, dynamic, llama3, yarn)", where.describe(), name);
}

Activation parse_activation(const std::string& name, const Where& where) {
  if (name == "silu" || name == "swish") return Activation::Silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "gelu") return Activation::Gelu;
  fail("{}: unsupported activation '{}' (supported: silu, gelu, gelu_pytorch_tanh)", where.describe(), name);
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

RopeConfig parse_rope_dict(const nlohmann::json& p, double theta_fallback, int64_t max_positions, const Where& where) {
  json_fields::require_object(p, where);
  RopeConfig r;
  // rope_type, or "type" in configs written before transformers 4.45.
  const std::string type = value_or<std::string>(p, "rope_type", value_or<std::string>(p, "type", "default", where),
                                                 where);
  r.type = parse_rope_type(type, where.key("rope_type"));
  r.theta = value_or<double>(p, "rope_theta", theta_fallback, where);
  r.factor = value_or<double>(p, "factor", 1.0, where);
  r.original_max_position_embeddings = value_or<int64_t>(p, "original_max_position_embeddings", max_positions, where);
  r.low_freq_factor = value_or<double>(p, "low_freq_factor", 1.0, where);
  r.high_freq_factor = value_or<double>(p, "high_freq_factor", 4.0, where);
  r.attention_factor = optional<double>(p, "attention_factor", where);
  r.mscale = optional<double>(p, "mscale", where);
  r.mscale_all_dim = optional<double>(p, "mscale_all_dim", where);
  r.beta_fast = value_or<double>(p, "beta_fast", 32.0, where);
  r.beta_slow = value_or<double>(p, "beta_slow", 1.0, where);
  r.truncate = value_or<bool>(p, "truncate", true, where);
  const double partial = value_or<double>(p, "partial_rotary_factor", 1.0, where);
  E2LLM_CHECK(partial == 1.0, "{} is {}: partial_rotary_factor is not supported (only 1.0)",
              where.key("partial_rotary_factor").describe(), partial);
  if (r.type == RopeType::Llama3 || r.type == RopeType::Yarn)
    E2LLM_CHECK(find(p, "factor", where), "{}: rope_type '{}' needs 'factor'", where.describe(), type);
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

RopeConfig parse_global_rope(const nlohmann::json& j, int64_t max_positions, const Where& where) {
  const double theta = value_or<double>(j, "rope_theta", 10000.0, where);
  for (const char* key : {"rope_parameters", "rope_scaling"})
    if (const nlohmann::json* p = find(j, key, where)) return parse_rope_dict(*p, theta, max_positions, where.key(key));
  return parse_rope_dict(nlohmann::json::object(), theta, max_positions, where);
}

std::vector<AttentionKind> parse_layer_types(const nlohmann::json& types, const Where& where) {
  const auto names = json_fields::read<std::vector<std::string>>(types, where);
  std::vector<AttentionKind> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "full_attention") out.push_back(AttentionKind::Full);
    else if (names[i] == "sliding_attention") out.push_back(AttentionKind::Sliding);
    else fail("{} is '{}' (expected full_attention or sliding_attention)", where.index(i).describe(), names[i]);
  }
  return out;
}

nlohmann::json layer_types_to_json(const std::vector<AttentionKind>& types) {
  nlohmann::json out = nlohmann::json::array();
  for (auto t : types) out.push_back(t == AttentionKind::Full ? "full_attention" : "sliding_attention");
  return out;
}

void parse_qwen_sliding(const nlohmann::json& j, DecoderConfig& c, const Where& where) {
  // transformers: sliding_window = sliding_window if use_sliding_window else None
  const bool use_sliding = value_or<bool>(j, "use_sliding_window", false, where);
  c.sliding_window = use_sliding ? optional<int64_t>(j, "sliding_window", where) : std::nullopt;
  if (const nlohmann::json* types = find(j, "layer_types", where)) {
    c.layer_types = parse_layer_types(*types, where.key("layer_types"));
    return;
  }
  const int64_t max_window_layers = value_or<int64_t>(j, "max_window_layers", 28, where);
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

std::vector<int64_t> parse_eos(const nlohmann::json& j, const Where& where) {
  const nlohmann::json* v = find(j, "eos_token_id", where);
  return v ? json_fields::one_or_list<int64_t>(*v, where.key("eos_token_id")) : std::vector<int64_t>{};
}

// The fields every family spells the same way.
void parse_common(const nlohmann::json& j, DecoderConfig& c, const Where& where) {
  c.vocab_size = value_or<int64_t>(j, "vocab_size", 0, where);
  c.hidden_size = value_or<int64_t>(j, "hidden_size", 0, where);
  c.intermediate_size = value_or<int64_t>(j, "intermediate_size", 0, where);
  c.num_layers = value_or<int64_t>(j, "num_hidden_layers", 0, where);
  // Checked as soon as it is read: the family parsers build per-layer lists before validate() runs.
  E2LLM_CHECK(c.num_layers >= 0 && c.num_layers <= DecoderConfig::kMaxLayers, "{} is {}; a decoder has 1 to {} layers",
              where.key("num_hidden_layers").describe(), c.num_layers, DecoderConfig::kMaxLayers);
  c.num_heads = value_or<int64_t>(j, "num_attention_heads", 0, where);
  c.num_kv_heads = value_or<int64_t>(j, "num_key_value_heads", c.num_heads, where);
  c.head_dim = value_or<int64_t>(j, "head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0, where);
  c.max_position_embeddings = value_or<int64_t>(j, "max_position_embeddings", 2048, where);
  c.rms_norm_eps = value_or<double>(j, "rms_norm_eps", 1e-6, where);
  c.activation = parse_activation(value_or<std::string>(j, "hidden_act", "silu", where), where.key("hidden_act"));
  c.tie_word_embeddings = value_or<bool>(j, "tie_word_embeddings", false, where);
  c.bos_token_id = optional<int64_t>(j, "bos_token_id", where);
  c.pad_token_id = optional<int64_t>(j, "pad_token_id", where);
  c.eos_token_ids = parse_eos(j, where);
  c.torch_dtype = value_or<std::string>(j, "dtype", value_or<std::string>(j, "torch_dtype", "", where), where);
  c.layer_types.assign(std::max<int64_t>(c.num_layers, 0), AttentionKind::Full);
}

}  // namespace

DecoderConfig DecoderConfig::from_json(const nlohmann::json& input, const std::string& what) {
  json_fields::require_object(input, what);
  const std::string model_type = json_fields::required<std::string>(input, "model_type", what);
  // A multimodal "gemma3" config holds the language model in text_config.
  const bool wrapper = model_type == "gemma3";
  const Where where(what, wrapper ? "text_config" : "");
  const nlohmann::json& j = wrapper ? json_fields::field(input, "text_config", what) : input;
  json_fields::require_object(j, where);
  DecoderConfig c;
  c.model_type = model_type;
  parse_common(j, c, where);
  if (model_type == "llama") parse_llama_config(j, c, where);
  else if (model_type == "mistral") parse_mistral_config(j, c, where);
  else if (model_type == "qwen2") parse_qwen2_config(j, c, where);
  else if (model_type == "qwen3") parse_qwen3_config(j, c, where);
  else if (model_type == "gemma3_text" || wrapper) parse_gemma3_config(j, c, where);
  else
    fail("{}: unsupported model_type '{}' (supported: llama, mistral, qwen2, qwen3, gemma3_text, gemma3)", what,
         model_type);
  if (c.eos_token_ids.empty() && wrapper) c.eos_token_ids = parse_eos(input, what);
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
  E2LLM_CHECK(num_layers <= kMaxLayers && num_heads <= 4096 && head_dim <= 65536,
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

int64_t DecoderConfig::context_window() const {
  // Gemma 3's configs name the extended length and scale linearly on top; a
  // factor from a malformed config is capped before the conversion.
  auto stretched = [this](int64_t base) {
    const double positions = std::min(static_cast<double>(base) * rope.factor, 0x1p40);
    return std::max(max_position_embeddings, static_cast<int64_t>(positions));
  };
  if (family == DecoderFamily::Gemma3) return max_position_embeddings;
  switch (rope.type) {
    case RopeType::Linear:
    case RopeType::Dynamic: return stretched(max_position_embeddings);
    case RopeType::Yarn: return stretched(rope.original_max_position_embeddings);
    case RopeType::Default:
    case RopeType::Llama3: break;
  }
  return max_position_embeddings;
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
