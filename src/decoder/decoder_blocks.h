// The building blocks every decoder family shares: grouped-query attention
// with RoPE and a KV cache, the gated MLP, the decoder layer and
// the stack ("model"). Module and parameter names are Hugging Face's, so
// named_parameters() / named_modules() paths equal the checkpoint's keys.
#pragma once
#include <torch/torch.h>

#include <string>

#include "decoder/causal_attention.h"
#include "e2llm/decoder/decoder_config.h"
#include "e2llm/decoder/kv_cache.h"
#include "e2llm/decoder/rope.h"
#include "e2llm/nn/lora.h"
#include "e2llm/nn/norm.h"
#include "e2llm/nn/weight_loader.h"

namespace e2llm::detail {

using nn::RmsNorm;
using nn::WeightLoader;  // tensors below a name prefix in the model dtype, shape-checked

// Per-forward attention inputs shared by every layer of one kind.
struct AttentionContext {
  torch::Tensor cos, sin;  // [B, 1, T, head_dim]
  // [B, 1, 1, T, S] bool (true = may attend), for the reference attention
  // only. Built from `causal` on first use, as it costs T·S bytes; given up
  // front where `causal` is not (activation checkpointing).
  mutable torch::Tensor mask;
  CausalMask causal = {};  // what the fused kernel reads
  const torch::Tensor& dense_mask() const;
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const DecoderConfig& c, const WeightLoader& w, int64_t layer_index);
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& ctx, KvCache* cache);

  nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RmsNorm q_norm{nullptr}, k_norm{nullptr};

 private:
  int64_t layer_, heads_, kv_heads_, head_dim_;
  double scale_;
  std::optional<double> softcap_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const DecoderConfig& c, const WeightLoader& w);
  torch::Tensor forward(const torch::Tensor& x);
  nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  Activation activation_;
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const DecoderConfig& c, const WeightLoader& w, int64_t layer_index);
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& ctx, KvCache* cache);

  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RmsNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};  // Gemma
  AttentionKind kind;
};
TORCH_MODULE(DecoderLayer);

// Holds the token embedding matrix as "weight" (frozen), or as the file's
// quantized blocks (then `weight` is undefined).
class EmbeddingImpl : public torch::nn::Module {
 public:
  explicit EmbeddingImpl(torch::Tensor weight);
  explicit EmbeddingImpl(std::shared_ptr<const QuantizedTensor> quantized);
  // ids (int64, any shape, in range) -> [ids..., hidden] in `dtype`.
  torch::Tensor lookup(const torch::Tensor& ids, torch::ScalarType dtype) const;
  torch::Device device() const;
  torch::Tensor weight;
  std::shared_ptr<const QuantizedTensor> quantized;
};
TORCH_MODULE(Embedding);

class DecoderStackImpl : public torch::nn::Module {
 public:
  DecoderStackImpl(const DecoderConfig& c, const WeightLoader& w);
  // x [B, T, hidden]; valid [B, T] bool; positions [B, T] int64. Final-normed output.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& valid, const torch::Tensor& positions,
                        KvCache* cache, bool checkpoint_layers);

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers;
  RmsNorm norm{nullptr};

 private:
  DecoderConfig config_;
  RopeFrequencies rope_, local_rope_;
};
TORCH_MODULE(DecoderStack);

// Runs layer(x) but keeps only its input for backward and recomputes the layer
// there (activation checkpointing). Dropout masks are reproduced by restoring
// the CPU generator state.
torch::Tensor checkpointed_layer(DecoderLayerImpl& layer, const torch::Tensor& x, const AttentionContext& ctx);

}  // namespace e2llm::detail
