// Typed, validated config.json of a BERT-family text encoder. Three families:
//   bert         BertModel (bert-base, all-MiniLM, BGE, E5): absolute positions, post-LN.
//   xlm-roberta  XLMRobertaModel (bge-m3, multilingual-e5): BERT with positions
//                counted from pad_token_id + 1 (fairseq's convention).
//   new          GTE-v1.5 "NewModel" (Alibaba-NLP/new-impl): RoPE (optionally
//                NTK-scaled), fused qkv_proj, gated GELU MLP, post-LN.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <nlohmann/json_fwd.hpp>

namespace e2llm {

enum class EncoderFamily { kBert, kXlmRoberta, kGte };

std::string encoder_family_name(EncoderFamily family);  // "bert", "xlm-roberta", "new"

struct RopeScaling {
  std::string type = "ntk";           // the only kind new-impl implements
  double factor = 1.0;
  std::optional<double> mixed_b;      // "mixed" NTK (kexue.fm/archives/9706, eq. 10-13)
};

struct EncoderConfig {
  EncoderFamily family = EncoderFamily::kBert;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  std::string hidden_act = "gelu";    // gelu, gelu_new, gelu_pytorch_tanh, relu, silu, swish
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;        // 0: no token-type embeddings (GTE)
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  // "absolute" (learned table) or "rope" (GTE only).
  std::string position_embedding_type = "absolute";
  // GTE-only settings.
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  std::string layer_norm_type = "layer_norm";  // or "rms_norm"
  bool pack_qkv = true;
  bool logn_attention_scale = false;
  bool logn_attention_clip1 = false;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // XLM-R numbers positions from pad_token_id + 1; BERT from 0.
  int64_t position_offset() const {
    return family == EncoderFamily::kXlmRoberta ? pad_token_id + 1 : 0;
  }

  // `what` names the source (a file path) in error messages.
  static EncoderConfig from_json(const nlohmann::json& j, const std::string& what);
  static EncoderConfig load(const std::string& config_json_path);
  // The config.json Hugging Face writes for this model (model_type, architectures, ...).
  nlohmann::json to_json() const;
  void validate(const std::string& what) const;
};

}  // namespace e2llm
