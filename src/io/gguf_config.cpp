// gguf_to_hf_config: the Hugging Face config transformers derives from GGUF
// metadata (integrations/ggml.py GGUF_CONFIG_MAPPING + load_gguf_checkpoint),
// for the architectures e2llm runs, plus the model-class defaults a decoder
// needs that the GGUF does not carry.
#include <nlohmann/json.hpp>

#include "e2llm/error.h"
#include "e2llm/gguf.h"

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

const KeyMap kTokenKeys = {
    {"tokenizer.ggml.bos_token_id", "bos_token_id"},
    {"tokenizer.ggml.eos_token_id", "eos_token_id"},
    {"tokenizer.ggml.unknown_token_id", "unk_token_id"},
    {"tokenizer.ggml.padding_token_id", "pad_token_id"},
};

nlohmann::json to_json(const GgufValue& v) {
  if (v.is_integer()) return v.as_int();
  if (v.is_float()) return v.as_float();
  if (v.type() == GgufValueType::BOOL) return v.as_bool();
  if (v.type() == GgufValueType::STRING) return v.as_string();
  fail("is {}, not a scalar", gguf_value_type_name(v.type()));
}

void copy_keys(const GgufFile& f, const std::string& prefix, const KeyMap& keys,
               nlohmann::json& out) {
  for (const auto& [gguf_key, hf_key] : keys) {
    const std::string key = prefix + gguf_key;
    if (!f.has(key)) continue;
    try {
      out[hf_key] = to_json(f.value(key));
    } catch (const Error& e) {
      fail("{}: metadata '{}' {}", f.path(), key, e.what());
    }
  }
}

// Defaults of LlamaConfig / Gemma3TextConfig that the GGUF does not store.
void add_class_defaults(const std::string& arch, nlohmann::json& c) {
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
  // Every sliding_window_pattern-th layer attends globally.
  nlohmann::json layer_types = nlohmann::json::array();
  const int64_t layers = c.value("num_hidden_layers", int64_t{0});
  for (int64_t i = 0; i < layers; ++i)
    layer_types.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  c["layer_types"] = layer_types;
}

}  // namespace

nlohmann::json gguf_to_hf_config(const GgufFile& file) {
  const std::string arch = file.architecture();
  const KeyMap& keys = arch_key_map(arch);
  nlohmann::json c = nlohmann::json::object();
  c["tie_word_embeddings"] = file.find_tensor("output.weight") == nullptr;
  c["model_type"] = arch == "gemma3" ? "gemma3_text" : arch;
  if (file.has("general.name")) c["_model_name_or_path"] = file.get_string("general.name");
  copy_keys(file, arch + ".", keys, c);
  copy_keys(file, "", kTokenKeys, c);
  if (!c.contains("vocab_size") && file.has("tokenizer.ggml.tokens"))
    c["vocab_size"] = file.get_string_array("tokenizer.ggml.tokens").size();
  add_class_defaults(arch, c);
  return c;
}

}  // namespace e2llm
