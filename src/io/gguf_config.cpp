// gguf_to_hf_config: the Hugging Face config transformers derives from GGUF
// metadata (integrations/ggml.py GGUF_CONFIG_MAPPING + load_gguf_checkpoint),
// for the architectures e2llm runs, plus the model-class defaults a decoder
// needs that the GGUF does not carry. Torch-free: it works on the parsed
// header, so that fuzz/fuzz_gguf_config.cpp runs it on arbitrary files.
#include "e2llm/io/gguf_config.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "e2llm/core/error.h"
#include "io/json_fields.h"

namespace e2llm {

namespace {

using KeyMap = std::vector<std::pair<const char*, const char*>>;

// "<arch>.<gguf key>" -> HF key, as transformers' GGUF_CONFIG_MAPPING.
const KeyMap& arch_key_map(const std::string& arch) {
  static const KeyMap kLlama = {
      {"context_length", "max_position_embeddings"},
      {"block_count", "num_hidden_layers"},
      {"feed_forward_length", "intermediate_size"},
      {"embedding_length", "hidden_size"},
      {"rope.dimension_count", "head_dim"},
      {"rope.freq_base", "rope_theta"},
      {"attention.head_count", "num_attention_heads"},
      {"attention.head_count_kv", "num_key_value_heads"},
      {"attention.layer_norm_rms_epsilon", "rms_norm_eps"},
      {"vocab_size", "vocab_size"},
  };
  static const KeyMap kGemma3 = {
      {"context_length", "max_position_embeddings"},
      {"block_count", "num_hidden_layers"},
      {"feed_forward_length", "intermediate_size"},
      {"embedding_length", "hidden_size"},
      {"rope.freq_base", "rope_theta"},
      {"attention.key_length", "head_dim"},
      {"attention.head_count", "num_attention_heads"},
      {"attention.head_count_kv", "num_key_value_heads"},
      {"attention.layer_norm_rms_epsilon", "rms_norm_eps"},
      {"attention.sliding_window", "sliding_window"},
      {"vocab_size", "vocab_size"},
  };
  if (arch == "llama") return kLlama;
  if (arch == "gemma3") return kGemma3;
  fail("GGUF architecture '{}' is not supported (e2llm reads llama and gemma3)", arch);
}

// DecoderConfig::kMaxLayers (io may not include decoder/): more layers than any
// model has, which the decoder refuses.
constexpr int64_t kMaxListedLayers = 4096;

const KeyMap kTokenKeys = {
    {"tokenizer.ggml.bos_token_id", "bos_token_id"},
    {"tokenizer.ggml.eos_token_id", "eos_token_id"},
    {"tokenizer.ggml.unknown_token_id", "unk_token_id"},
    {"tokenizer.ggml.padding_token_id", "pad_token_id"},
};

// The header's metadata by key; the first of duplicate keys wins, as in GgufFile.
class Metadata {
 public:
  Metadata(const GgufHeader& header, const std::string& path) : path_(path) {
    for (const auto& [key, value] : header.metadata) values_.emplace(key, &value);
  }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  // get(key) of the value under `key`, or an error naming the file and the key.
  template <typename Get>
  auto get(const std::string& key, Get get) const {
    auto it = values_.find(key);
    E2LLM_CHECK(it != values_.end(), "{}: no metadata key '{}'", path_, key);
    try {
      return get(*it->second);
    } catch (const Error& e) {
      fail("{}: metadata '{}' {}", path_, key, e.what());
    }
  }

 private:
  std::string path_;
  std::unordered_map<std::string, const GgufValue*> values_;
};

nlohmann::json scalar_json(const GgufValue& v) {
  if (v.is_integer()) return v.as_int();
  if (v.is_float()) return v.as_float();
  if (v.type() == GgufValueType::BOOL) return v.as_bool();
  if (v.type() == GgufValueType::STRING) return v.as_string();
  fail("is {}, not a scalar", gguf_value_type_name(v.type()));
}

void copy_keys(const Metadata& metadata, const std::string& prefix, const KeyMap& keys, nlohmann::json& out) {
  for (const auto& [gguf_key, hf_key] : keys) {
    const std::string key = prefix + gguf_key;
    if (metadata.has(key)) out[hf_key] = metadata.get(key, scalar_json);
  }
}

bool has_tensor(const GgufHeader& header, const std::string& name) {
  for (const auto& t : header.tensors)
    if (t.name == name) return true;
  return false;
}

// Defaults of LlamaConfig / Gemma3TextConfig that the GGUF does not store.
void add_class_defaults(const std::string& arch, const std::string& path, nlohmann::json& c) {
  if (arch == "llama") {
    c["architectures"] = {"LlamaForCausalLM"};
    c["hidden_act"] = "silu";
    c["attention_bias"] = false;
    c["mlp_bias"] = false;
    return;
  }
  c["architectures"] = {"Gemma3ForCausalLM"};
  c["hidden_activation"] = "gelu_pytorch_tanh";
  c["attention_bias"] = false;
  c["query_pre_attn_scalar"] = 256;
  c["rope_local_base_freq"] = 10000.0;
  c["sliding_window_pattern"] = 6;
  c["final_logit_softcapping"] = nullptr;
  c["attn_logit_softcapping"] = nullptr;
  // Every sliding_window_pattern-th layer attends globally. A layer count
  // DecoderConfig refuses gets no list (it may be far too long to build).
  const int64_t layers = json_fields::value_or<int64_t>(c, "num_hidden_layers", 0, path);
  if (layers < 0 || layers > kMaxListedLayers) return;
  nlohmann::json layer_types = nlohmann::json::array();
  for (int64_t i = 0; i < layers; ++i)
    layer_types.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  c["layer_types"] = layer_types;
}

}  // namespace

nlohmann::json gguf_to_hf_config(const GgufHeader& header, const std::string& path) {
  const Metadata metadata(header, path);
  const std::string arch =
      metadata.get("general.architecture", [](const GgufValue& v) { return v.as_string(); });
  const KeyMap& keys = arch_key_map(arch);
  nlohmann::json c = nlohmann::json::object();
  c["tie_word_embeddings"] = !has_tensor(header, "output.weight");
  c["model_type"] = arch == "gemma3" ? "gemma3_text" : arch;
  if (metadata.has("general.name"))
    c["_model_name_or_path"] = metadata.get("general.name", [](const GgufValue& v) { return v.as_string(); });
  copy_keys(metadata, arch + ".", keys, c);
  copy_keys(metadata, "", kTokenKeys, c);
  if (!c.contains("vocab_size") && metadata.has("tokenizer.ggml.tokens"))
    c["vocab_size"] = metadata.get("tokenizer.ggml.tokens", [](const GgufValue& v) { return v.as_strings().size(); });
  add_class_defaults(arch, path, c);
  return c;
}

}  // namespace e2llm
