// Pieces shared by the encoder families (bert.cpp, gte.cpp): the embeddings,
// the post-LN self-attention block, and the normalisation / activation /
// attention arithmetic. Weights are loaded with nn::WeightLoader into a module
// tree whose names mirror Hugging Face's (nn::linear_at, nn::frozen_at).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "e2llm/encoder/encoder.h"
#include "e2llm/nn/lora.h"
#include "e2llm/nn/weight_loader.h"

namespace e2llm::encoder_detail {

using nn::WeightLoader;

// "" or the head-model prefix ("bert.", "roberta.", "new.", ...) the checkpoint uses.
std::string detect_prefix(const Weights& weights);

// The dtype the layers compute in for activations stored as x's dtype: bf16
// models run in float32 on CPUs without a fast bf16 GEMM (bf16_matmul_native),
// where bf16 activations would only add conversions around every product;
// the weights stay bf16 and the output is cast back.
torch::ScalarType compute_dtype(const torch::Tensor& x);

// LayerNorm, or RMSNorm (nn::rms_norm) when there is no bias.
struct Norm {
  torch::Tensor weight, bias;  // bias undefined for RMSNorm
  double eps = 1e-12;
  torch::Tensor operator()(const torch::Tensor& x) const;
};
// Registers <path>.weight (+ <path>.bias for LayerNorm) below root.
Norm norm_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t size,
             double eps, bool rms = false);

using Activation = std::function<torch::Tensor(const torch::Tensor&)>;
Activation activation(const std::string& hidden_act);

// [B, T] mask -> additive bias [B, 1, 1, T]: 0 for real keys, the dtype's lowest for padding.
torch::Tensor attention_bias(const torch::Tensor& mask, torch::ScalarType dtype);

// q, k, v [B, T, heads, d] -> context [B, T, heads·d]; bias [B, 1, 1, T].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias);

// What one forward computes once for all layers.
struct AttentionInputs {
  torch::Tensor bias;      // [B, 1, 1, T] additive key bias
  torch::Tensor cos, sin;  // RoPE tables broadcasting over [B, T, heads, d], or undefined
  torch::Tensor scale;     // per-sequence factor on q [B, 1, 1, 1] (logn), or undefined
};

// Module paths of a self-attention block, relative to its layer.
struct AttentionPaths {
  std::string qkv;  // fused [3·h, h] projection; empty: separate q, k, v
  std::string q, k, v, out, norm;
};

// Post-LN self-attention: norm(x + out(attention(q, k, v))), with q and k
// rotated when the inputs carry RoPE tables and q scaled when they carry a scale.
struct SelfAttention {
  nn::Linear qkv_proj{nullptr}, q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  Norm norm;
  int64_t hidden = 0, heads = 0, head_dim = 0;
  torch::Tensor operator()(const torch::Tensor& x, const AttentionInputs& in);
};
SelfAttention self_attention_at(torch::nn::Module& root, const WeightLoader& w, const EncoderConfig& config,
                                const std::string& layer, const AttentionPaths& paths, bool rms_norm = false);

// The parts every family has: word (+ learned position) (+ token type)
// embeddings under Hugging Face's names with their LayerNorm, and the activation.
class EncoderBase : public EncoderModel {
 protected:
  EncoderBase(const EncoderConfig& config, const WeightLoader& w, bool position_table);
  // LayerNorm(word + token type 0 + position) for ids [B, T]. Positions are
  // 0..T-1, or for XLM-R fairseq's (counted from pad_token_id + 1 over real
  // tokens); none without a position table (RoPE).
  torch::Tensor embed(const torch::Tensor& ids) const;

  EncoderConfig config_;
  torch::Tensor word_, position_, token_type_;
  Norm embedding_norm_;
  Activation act_;
};

// The families (bert.cpp: BERT and XLM-R; gte.cpp: GTE-v1.5 NewModel).
std::shared_ptr<EncoderModel> make_bert(const EncoderConfig& config, const WeightLoader& w);
std::shared_ptr<EncoderModel> make_gte(const EncoderConfig& config, const WeightLoader& w);

}  // namespace e2llm::encoder_detail
