// Typed, validated configuration of a decoder-only LLM, read from a Hugging
// Face config.json (or the JSON that gguf_to_hf_config() produces). Field
// semantics follow transformers 5.x: llama, mistral, qwen2, qwen3,
// gemma3_text (and "gemma3" wrapper configs, whose text_config is used).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <nlohmann/json_fwd.hpp>

namespace e2llm {

enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn };

// One set of rotary-embedding parameters (HF "rope_parameters" / legacy
// rope_theta + rope_scaling).
struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;  // linear, dynamic, llama3, yarn
  // llama3 and yarn: the pretraining context (defaults to max_position_embeddings).
  int64_t original_max_position_embeddings = 0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  std::optional<double> attention_factor;  // yarn: cos/sin multiplier (derived from factor when absent)
  std::optional<double> mscale, mscale_all_dim;
  double beta_fast = 32.0, beta_slow = 1.0;
  bool truncate = true;
};

enum class DecoderFamily { Llama, Mistral, Qwen2, Qwen3, Gemma3 };
enum class AttentionKind { Full, Sliding };
enum class Activation { Silu, GeluTanh, Gelu };

struct DecoderConfig {
  // Far more than any released model; parsers refuse more before building per-layer lists.
  static constexpr int64_t kMaxLayers = 4096;

  std::string model_type;  // as written in config.json ("llama", "gemma3_text", ...)
  DecoderFamily family = DecoderFamily::Llama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  Activation activation = Activation::Silu;

  bool q_bias = false, k_bias = false, v_bias = false, o_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  bool qk_norm = false;         // Qwen3, Gemma 3: RMSNorm over head_dim on q and k before RoPE
  bool gemma_norms = false;     // Gemma: RMSNorm scales by (1 + w); extra post-attention/ffw norms
  double embedding_scale = 1.0; // Gemma: sqrt(hidden_size), applied to token embeddings only
  std::optional<double> query_pre_attn_scalar;  // Gemma: softmax scale is its -1/2 power
  std::optional<double> attn_logit_softcapping;
  std::optional<double> final_logit_softcapping;

  RopeConfig rope;        // full-attention layers
  RopeConfig local_rope;  // sliding-window layers (Gemma 3: rope_local_base_freq, no scaling); else == rope
  std::optional<int64_t> sliding_window;  // tokens a query sees, itself included
  std::vector<AttentionKind> layer_types; // one per layer

  std::optional<int64_t> bos_token_id, pad_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype;  // "float32", "bfloat16", ... as declared (informative)

  // Parses and validates; `what` names the source in error messages.
  static DecoderConfig from_json(const nlohmann::json& config, const std::string& what = "config.json");
  static DecoderConfig from_file(const std::string& path);
  // A Hugging Face config.json (transformers 5.x spelling) for this config.
  nlohmann::json to_json() const;
  // Throws e2llm::Error naming the inconsistent field.
  void validate(const std::string& what = "config") const;

  bool has_sliding_layers() const;
  // Positions a prompt and its answer may take together: max_position_embeddings,
  // stretched by the RoPE scaling factor where the config scales (linear and
  // dynamic: of max_position_embeddings; YaRN: of its original context);
  // llama3 and Gemma 3 configs already name the extended length. Generous rather than
  // strict: it bounds the KV cache and refuses what cannot be read, it does
  // not second-guess a scaled model.
  int64_t context_window() const;
  int64_t kv_groups() const { return num_heads / num_kv_heads; }
  double attention_scale() const;  // 1/sqrt(query_pre_attn_scalar or head_dim)
};

const char* to_string(DecoderFamily family);
const char* to_string(RopeType type);

}  // namespace e2llm
