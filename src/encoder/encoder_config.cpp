#include "e2llm/encoder/encoder_config.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "io/json_fields.h"

namespace e2llm {
namespace {

using nlohmann::json;

constexpr std::array<const char*, 6> kKnownActivations = {
    "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish"};

using json_fields::required;
using json_fields::value_or;
using json_fields::Where;

EncoderFamily family_of(const json& j, const std::string& what) {
  const std::string type = value_or<std::string>(j, "model_type", "", what);
  if (type == "bert") return EncoderFamily::kBert;
  if (type == "xlm-roberta" || type == "roberta") return EncoderFamily::kXlmRoberta;
  if (type == "new") return EncoderFamily::kGte;
  if (type.empty()) {
    for (const std::string& a : value_or<std::vector<std::string>>(j, "architectures", {}, what)) {
      if (a.rfind("Bert", 0) == 0) return EncoderFamily::kBert;
      if (a.rfind("XLMRoberta", 0) == 0 || a.rfind("Roberta", 0) == 0) return EncoderFamily::kXlmRoberta;
      if (a.rfind("New", 0) == 0) return EncoderFamily::kGte;
    }
  }
  fail("{}: field 'model_type' is '{}'; supported encoders are bert, xlm-roberta and new (GTE-v1.5)",
       what, type);
}

std::optional<RopeScaling> rope_scaling_of(const json& j, const std::string& what) {
  const json* scaling = json_fields::find(j, "rope_scaling", what);
  if (!scaling) return std::nullopt;
  const Where where(what, "rope_scaling");
  json_fields::require_object(*scaling, where);
  RopeScaling s;
  s.type = value_or<std::string>(*scaling, "type", value_or<std::string>(*scaling, "rope_type", "", where), where);
  s.factor = required<double>(*scaling, "factor", where);
  s.mixed_b = json_fields::optional<double>(*scaling, "mixed_b", where);
  return s;
}

}  // namespace

std::string encoder_family_name(EncoderFamily family) {
  switch (family) {
    case EncoderFamily::kBert: return "bert";
    case EncoderFamily::kXlmRoberta: return "xlm-roberta";
    case EncoderFamily::kGte: return "new";
  }
  return "?";
}

EncoderConfig EncoderConfig::from_json(const json& j, const std::string& what) {
  json_fields::require_object(j, what);
  EncoderConfig c;
  c.family = family_of(j, what);
  const bool gte = c.family == EncoderFamily::kGte;
  c.vocab_size = required<int64_t>(j, "vocab_size", what);
  c.hidden_size = required<int64_t>(j, "hidden_size", what);
  c.num_hidden_layers = required<int64_t>(j, "num_hidden_layers", what);
  c.num_attention_heads = required<int64_t>(j, "num_attention_heads", what);
  c.intermediate_size = required<int64_t>(j, "intermediate_size", what);
  c.hidden_act = value_or<std::string>(j, "hidden_act", "gelu", what);
  c.max_position_embeddings = value_or<int64_t>(j, "max_position_embeddings", 512, what);
  c.type_vocab_size = value_or<int64_t>(j, "type_vocab_size", gte ? 0 : 2, what);
  c.layer_norm_eps = value_or<double>(j, "layer_norm_eps", 1e-12, what);
  c.pad_token_id = value_or<int64_t>(j, "pad_token_id", c.family == EncoderFamily::kXlmRoberta ? 1 : 0, what);
  c.position_embedding_type = value_or<std::string>(j, "position_embedding_type", gte ? "rope" : "absolute", what);
  if (gte) {
    c.rope_theta = value_or<double>(j, "rope_theta", 10000.0, what);
    c.rope_scaling = rope_scaling_of(j, what);
    c.layer_norm_type = value_or<std::string>(j, "layer_norm_type", "layer_norm", what);
    c.pack_qkv = value_or<bool>(j, "pack_qkv", true, what);
    c.logn_attention_scale = value_or<bool>(j, "logn_attention_scale", false, what);
    c.logn_attention_clip1 = value_or<bool>(j, "logn_attention_clip1", false, what);
  }
  c.validate(what);
  return c;
}

EncoderConfig EncoderConfig::load(const std::string& path) { return from_json(read_json_file(path), path); }

void EncoderConfig::validate(const std::string& what) const {
  auto positive = [&](int64_t v, const char* name) {
    E2LLM_CHECK(v > 0, "{}: field '{}' must be positive, got {}", what, name, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(intermediate_size, "intermediate_size");
  positive(max_position_embeddings, "max_position_embeddings");
  E2LLM_CHECK(hidden_size % num_attention_heads == 0,
              "{}: field 'hidden_size' ({}) is not divisible by 'num_attention_heads' ({})", what,
              hidden_size, num_attention_heads);
  E2LLM_CHECK(std::find(kKnownActivations.begin(), kKnownActivations.end(), hidden_act) !=
                  kKnownActivations.end(),
              "{}: field 'hidden_act' is '{}'; known: {}", what, hidden_act,
              fmt::join(kKnownActivations, ", "));
  E2LLM_CHECK(type_vocab_size >= 0, "{}: field 'type_vocab_size' must be >= 0, got {}", what,
              type_vocab_size);
  E2LLM_CHECK(layer_norm_eps > 0, "{}: field 'layer_norm_eps' must be positive", what);
  E2LLM_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size,
              "{}: field 'pad_token_id' ({}) is outside the vocabulary (size {})", what, pad_token_id,
              vocab_size);
  const bool gte = family == EncoderFamily::kGte;
  if (gte) {
    E2LLM_CHECK(position_embedding_type == "rope" || position_embedding_type == "absolute",
                "{}: field 'position_embedding_type' is '{}'; GTE supports rope and absolute", what,
                position_embedding_type);
    E2LLM_CHECK(layer_norm_type == "layer_norm" || layer_norm_type == "rms_norm",
                "{}: field 'layer_norm_type' is '{}'; known: layer_norm, rms_norm", what, layer_norm_type);
    E2LLM_CHECK(rope_theta > 0, "{}: field 'rope_theta' must be positive", what);
    E2LLM_CHECK(head_dim() % 2 == 0, "{}: RoPE needs an even head size, got {}", what, head_dim());
    if (rope_scaling) {
      E2LLM_CHECK(rope_scaling->type == "ntk", "{}: field 'rope_scaling.type' is '{}'; GTE implements ntk",
                  what, rope_scaling->type);
      E2LLM_CHECK(rope_scaling->factor >= 1.0, "{}: field 'rope_scaling.factor' must be >= 1, got {}",
                  what, rope_scaling->factor);
    }
  } else {
    E2LLM_CHECK(position_embedding_type == "absolute",
                "{}: field 'position_embedding_type' is '{}'; only absolute is supported for {}", what,
                position_embedding_type, encoder_family_name(family));
  }
  // max_position_embeddings - 1 > offset, written so that no sum can overflow.
  E2LLM_CHECK(position_embedding_type != "absolute" || max_position_embeddings - 1 > position_offset(),
              "{}: field 'max_position_embeddings' ({}) leaves no room for tokens after the position "
              "offset {}", what, max_position_embeddings, position_offset());
}

json EncoderConfig::to_json() const {
  static const char* kArchitecture[] = {"BertModel", "XLMRobertaModel", "NewModel"};
  json j = {{"model_type", encoder_family_name(family)},
            {"architectures", {kArchitecture[static_cast<int>(family)]}},
            {"vocab_size", vocab_size},
            {"hidden_size", hidden_size},
            {"num_hidden_layers", num_hidden_layers},
            {"num_attention_heads", num_attention_heads},
            {"intermediate_size", intermediate_size},
            {"hidden_act", hidden_act},
            {"max_position_embeddings", max_position_embeddings},
            {"type_vocab_size", type_vocab_size},
            {"layer_norm_eps", layer_norm_eps},
            {"pad_token_id", pad_token_id},
            {"position_embedding_type", position_embedding_type},
            {"hidden_dropout_prob", 0.0},
            {"attention_probs_dropout_prob", 0.0},
            {"initializer_range", 0.02},
            {"torch_dtype", "float32"}};
  if (family == EncoderFamily::kXlmRoberta) {
    j["bos_token_id"] = 0;
    j["eos_token_id"] = 2;
  }
  if (family == EncoderFamily::kGte) {
    j["rope_theta"] = rope_theta;
    j["rope_scaling"] = nullptr;
    if (rope_scaling) {
      j["rope_scaling"] = {{"type", rope_scaling->type}, {"factor", rope_scaling->factor}};
      if (rope_scaling->mixed_b) j["rope_scaling"]["mixed_b"] = *rope_scaling->mixed_b;
    }
    j["layer_norm_type"] = layer_norm_type;
    j["pack_qkv"] = pack_qkv;
    j["logn_attention_scale"] = logn_attention_scale;
    j["logn_attention_clip1"] = logn_attention_clip1;
    j["unpad_inputs"] = false;
    j["use_memory_efficient_attention"] = false;
    j["auto_map"] = {{"AutoConfig", "configuration.NewConfig"}, {"AutoModel", "modeling.NewModel"}};
  }
  return j;
}

}  // namespace e2llm
