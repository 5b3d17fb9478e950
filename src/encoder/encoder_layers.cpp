#include <cmath>

#include "e2llm/core/cpu_features.h"
#include "e2llm/core/error.h"
#include "e2llm/encoder/attention.h"
#include "e2llm/nn/norm.h"
#include "e2llm/nn/rope.h"
#include "encoder/encoder_internal.h"

namespace e2llm::encoder_detail {

std::string detect_prefix(const Weights& weights) {
  const std::string probe = "embeddings.word_embeddings.weight";
  for (const char* prefix : {"", "bert.", "roberta.", "new.", "model.", "0.auto_model."})
    if (weights.has(prefix + probe)) return prefix;
  fail("model weights have no '{}' (nor under bert./roberta./new. prefixes): not a BERT-family encoder",
       probe);
}

torch::ScalarType compute_dtype(const torch::Tensor& x) {
  if (x.scalar_type() == torch::kBFloat16 && x.device().is_cpu() && !bf16_matmul_native()) return torch::kFloat32;
  return x.scalar_type();
}

torch::Tensor Norm::operator()(const torch::Tensor& x) const {
  // GTE's rms_norm (new-impl): normalise in float32, scale in the input dtype.
  if (!bias.defined()) return nn::rms_norm(x, weight, eps);
  if (weight.scalar_type() == x.scalar_type()) return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
  return torch::layer_norm(x, {x.size(-1)}, weight.to(x.scalar_type()), bias.to(x.scalar_type()), eps);
}

Norm norm_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t size,
             double eps, bool rms) {
  Norm n;
  n.eps = eps;
  n.weight = nn::frozen_at(root, w, path + ".weight", {size});
  if (!rms) n.bias = nn::frozen_at(root, w, path + ".bias", {size});
  return n;
}

Activation activation(const std::string& name) {
  if (name == "gelu") return [](const torch::Tensor& x) { return torch::gelu(x); };
  if (name == "gelu_new" || name == "gelu_pytorch_tanh")
    return [](const torch::Tensor& x) { return torch::gelu(x, "tanh"); };
  if (name == "relu") return [](const torch::Tensor& x) { return torch::relu(x); };
  if (name == "silu" || name == "swish") return [](const torch::Tensor& x) { return torch::silu(x); };
  fail("unknown hidden_act '{}'", name);
}

torch::Tensor attention_bias(const torch::Tensor& mask, torch::ScalarType dtype) {
  const double lowest = dtype == torch::kBFloat16 ? -3.38e38 : std::numeric_limits<float>::lowest();
  torch::Tensor padding = mask.eq(0).view({mask.size(0), 1, 1, mask.size(1)});
  return torch::zeros(padding.sizes(), torch::TensorOptions().dtype(dtype).device(mask.device()))
      .masked_fill(padding, lowest);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias) {
  return nn::encoder_attention(q, k, v, bias, 1.0 / std::sqrt(static_cast<double>(q.size(3))));
}

// ---- self-attention -------------------------------------------------------------

SelfAttention self_attention_at(torch::nn::Module& root, const WeightLoader& w, const EncoderConfig& config,
                                const std::string& layer, const AttentionPaths& paths, bool rms_norm) {
  const int64_t h = config.hidden_size;
  SelfAttention a;
  a.hidden = h;
  a.heads = config.num_attention_heads;
  a.head_dim = config.head_dim();
  if (!paths.qkv.empty()) {
    a.qkv_proj = nn::linear_at(root, w, layer + paths.qkv, h, 3 * h);
  } else {
    a.q_proj = nn::linear_at(root, w, layer + paths.q, h, h);
    a.k_proj = nn::linear_at(root, w, layer + paths.k, h, h);
    a.v_proj = nn::linear_at(root, w, layer + paths.v, h, h);
  }
  a.out_proj = nn::linear_at(root, w, layer + paths.out, h, h);
  a.norm = norm_at(root, w, layer + paths.norm, h, config.layer_norm_eps, rms_norm);
  return a;
}

torch::Tensor SelfAttention::operator()(const torch::Tensor& x, const AttentionInputs& in) {
  const int64_t b = x.size(0), t = x.size(1);
  torch::Tensor q, k, v;
  if (qkv_proj) {
    auto parts = qkv_proj->forward(x).split(hidden, -1);
    q = parts[0], k = parts[1], v = parts[2];
  } else {
    q = q_proj->forward(x), k = k_proj->forward(x), v = v_proj->forward(x);
  }
  // Views: the head split never copies (nor after the fused projection's split).
  q = q.reshape({b, t, heads, head_dim});
  k = k.reshape({b, t, heads, head_dim});
  v = v.reshape({b, t, heads, head_dim});
  if (in.cos.defined()) {
    q = nn::apply_rope(q, in.cos, in.sin);
    k = nn::apply_rope(k, in.cos, in.sin);
  }
  if (in.scale.defined()) q = q * in.scale;
  return norm(x + out_proj->forward(attention(q, k, v, in.bias)));
}

// ---- embeddings -------------------------------------------------------------------

EncoderBase::EncoderBase(const EncoderConfig& config, const WeightLoader& w, bool position_table)
    : config_(config) {
  const int64_t h = config.hidden_size;
  word_ = nn::frozen_at(*this, w, "embeddings.word_embeddings.weight", {config.vocab_size, h});
  if (position_table)
    position_ = nn::frozen_at(*this, w, "embeddings.position_embeddings.weight", {config.max_position_embeddings, h});
  if (config.type_vocab_size > 0)
    token_type_ = nn::frozen_at(*this, w, "embeddings.token_type_embeddings.weight", {config.type_vocab_size, h});
  embedding_norm_ = norm_at(*this, w, "embeddings.LayerNorm", h, config.layer_norm_eps);
  act_ = activation(config.hidden_act);
}

torch::Tensor EncoderBase::embed(const torch::Tensor& ids) const {
  torch::Tensor x = torch::embedding(word_, ids);
  // Chunks are single segments: token type 0 everywhere.
  if (token_type_.defined()) x = x + token_type_[0];
  if (position_.defined()) {
    if (config_.family == EncoderFamily::kXlmRoberta) {
      // fairseq: real tokens count from pad_token_id + 1, padding gets pad_token_id.
      torch::Tensor real = ids.ne(config_.pad_token_id).to(torch::kLong);
      x = x + torch::embedding(position_, real.cumsum(1).mul_(real).add_(config_.pad_token_id));
    } else {
      x = x + position_.slice(0, 0, ids.size(1));  // positions 0..T-1, broadcast over the batch
    }
  }
  return embedding_norm_(x);
}

}  // namespace e2llm::encoder_detail
