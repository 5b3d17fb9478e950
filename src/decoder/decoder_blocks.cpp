// Shared decoder blocks; numerics follow transformers' eager implementation
// (norms and softmax in float32, everything else in the model dtype). RMSNorm,
// the RoPE rotation and weight loading are e2llm/nn's, shared with the encoder.
#include "decoder/decoder_blocks.h"

#include "core/tensor_cast.h"
#include "e2llm/core/error.h"
#include "e2llm/nn/quantized_matmul.h"

namespace e2llm::detail {

// ---- attention ----------------------------------------------------------------

AttentionImpl::AttentionImpl(const DecoderConfig& c, const WeightLoader& w, int64_t layer_index)
    : layer_(layer_index),
      heads_(c.num_heads),
      kv_heads_(c.num_kv_heads),
      head_dim_(c.head_dim),
      scale_(c.attention_scale()),
      softcap_(c.attn_logit_softcapping) {
  int64_t q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", w.linear("q_proj", c.hidden_size, q_out, c.q_bias));
  k_proj = register_module("k_proj", w.linear("k_proj", c.hidden_size, kv_out, c.k_bias));
  v_proj = register_module("v_proj", w.linear("v_proj", c.hidden_size, kv_out, c.v_bias));
  o_proj = register_module("o_proj", w.linear("o_proj", q_out, c.hidden_size, c.o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RmsNorm(w.get("q_norm.weight", {head_dim_}), c.rms_norm_eps, c.gemma_norms));
    k_norm = register_module("k_norm", RmsNorm(w.get("k_norm.weight", {head_dim_}), c.rms_norm_eps, c.gemma_norms));
  }
}

const torch::Tensor& AttentionContext::dense_mask() const {
  if (!mask.defined()) {
    E2LLM_CHECK(causal.defined(), "attention context without a mask");
    mask = detail::dense_mask(causal);
  }
  return mask;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionContext& ctx, KvCache* cache) {
  int64_t B = x.size(0), T = x.size(1);
  std::vector<torch::Tensor> qkv = nn::forward_together({q_proj.get(), k_proj.get(), v_proj.get()}, x);
  torch::Tensor q = qkv[0].view({B, T, heads_, head_dim_});
  torch::Tensor k = qkv[1].view({B, T, kv_heads_, head_dim_});
  torch::Tensor v = qkv[2].view({B, T, kv_heads_, head_dim_}).transpose(1, 2);
  if (q_norm) q = q_norm->forward(q), k = k_norm->forward(k);
  q = nn::apply_rope(q.transpose(1, 2), ctx.cos, ctx.sin);
  k = nn::apply_rope(k.transpose(1, 2), ctx.cos, ctx.sin);
  if (cache) std::tie(k, v) = cache->write(layer_, k, v);
  // The fused kernel returns a transposed view of [B, T, H, d], so the reshape below is free.
  torch::Tensor out;
  if (ctx.causal.defined() && use_fused_causal_attention(q, k, v)) {
    out = causal_attention(q, k, v, ctx.causal, scale_, softcap_);
  } else {
    // These compute in q's dtype; only the fused kernel reads a float16 cache as it lies.
    k = as_type(k, q.scalar_type()), v = as_type(v, q.scalar_type());
    out = use_blockwise_attention(q) ? blockwise_attention(q, k, v, ctx.dense_mask(), scale_, softcap_)
                                     : grouped_attention(q, k, v, ctx.dense_mask(), scale_, softcap_);
  }
  return o_proj->forward(out.transpose(1, 2).reshape({B, T, heads_ * head_dim_}));
}

// ---- MLP ----------------------------------------------------------------------

MlpImpl::MlpImpl(const DecoderConfig& c, const WeightLoader& w) : activation_(c.activation) {
  gate_proj = register_module("gate_proj", w.linear("gate_proj", c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", w.linear("up_proj", c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", w.linear("down_proj", c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> gate_up = nn::forward_together({gate_proj.get(), up_proj.get()}, x);
  torch::Tensor& gate = gate_up[0];
  switch (activation_) {
    case Activation::Silu: gate = torch::silu(gate); break;
    case Activation::GeluTanh: gate = torch::gelu(gate, "tanh"); break;
    case Activation::Gelu: gate = torch::gelu(gate); break;
  }
  return down_proj->forward(gate * gate_up[1]);
}

// ---- layer --------------------------------------------------------------------

DecoderLayerImpl::DecoderLayerImpl(const DecoderConfig& c, const WeightLoader& w, int64_t layer_index)
    : kind(c.layer_types.at(layer_index)) {
  auto norm = [&](const char* name) {
    return register_module(name, RmsNorm(w.get(std::string(name) + ".weight", {c.hidden_size}), c.rms_norm_eps,
                                         c.gemma_norms));
  };
  self_attn = register_module("self_attn", Attention(c, w.sub("self_attn"), layer_index));
  mlp = register_module("mlp", Mlp(c, w.sub("mlp")));
  input_layernorm = norm("input_layernorm");
  post_attention_layernorm = norm("post_attention_layernorm");
  if (c.gemma_norms) {
    pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
    post_feedforward_layernorm = norm("post_feedforward_layernorm");
  }
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionContext& ctx, KvCache* cache) {
  torch::Tensor h = self_attn->forward(input_layernorm->forward(x), ctx, cache);
  if (pre_feedforward_layernorm) {  // Gemma: sandwich norms around both sublayers
    h = x + post_attention_layernorm->forward(h);
    return h + post_feedforward_layernorm->forward(mlp->forward(pre_feedforward_layernorm->forward(h)));
  }
  h = x + h;
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

// ---- stack --------------------------------------------------------------------

EmbeddingImpl::EmbeddingImpl(torch::Tensor w) { weight = register_parameter("weight", std::move(w), false); }

EmbeddingImpl::EmbeddingImpl(std::shared_ptr<const QuantizedTensor> q) : quantized(std::move(q)) {}

torch::Tensor EmbeddingImpl::lookup(const torch::Tensor& ids, torch::ScalarType dtype) const {
  if (quantized) return nn::quantized_rows(*quantized, ids.cpu()).to(dtype);
  return torch::embedding(weight, ids.to(weight.device()));
}

torch::Device EmbeddingImpl::device() const { return quantized ? torch::Device(torch::kCPU) : weight.device(); }

DecoderStackImpl::DecoderStackImpl(const DecoderConfig& c, const WeightLoader& w)
    : config_(c),
      rope_(rope_frequencies(c.rope, c.head_dim, c.max_position_embeddings)),
      local_rope_(rope_frequencies(c.local_rope, c.head_dim, c.max_position_embeddings)) {
  const std::vector<int64_t> embed_shape = {c.vocab_size, c.hidden_size};
  auto quantized_embed = w.quantized("embed_tokens.weight", embed_shape);
  embed_tokens = register_module("embed_tokens", quantized_embed ? Embedding(std::move(quantized_embed))
                                                                 : Embedding(w.get("embed_tokens.weight", embed_shape)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) layers->push_back(DecoderLayer(c, w.sub("layers." + std::to_string(i)), i));
  norm = register_module("norm", RmsNorm(w.get("norm.weight", {c.hidden_size}), c.rms_norm_eps, c.gemma_norms));
}

namespace {

RopeFrequencies frequencies_for(const RopeConfig& r, const RopeFrequencies& fixed, const DecoderConfig& c,
                                const torch::Tensor& positions) {
  if (r.type != RopeType::Dynamic) return fixed;
  // Dynamic NTK depends on the longest position of this forward (transformers'
  // dynamic_rope_update without its cross-call state).
  int64_t seq_len = positions.numel() ? positions.max().item<int64_t>() + 1 : 0;
  return rope_frequencies(r, c.head_dim, c.max_position_embeddings, seq_len);
}

}  // namespace

torch::Tensor DecoderStackImpl::forward(torch::Tensor x, const torch::Tensor& valid, const torch::Tensor& positions,
                                        KvCache* cache, bool checkpoint_layers) {
  torch::Tensor kv_valid = valid, kv_pos = positions;
  int64_t start = 0;
  if (cache) {
    E2LLM_CHECK(cache->batch_size() == x.size(0), "KV cache holds {} sequences but the input has {}",
                cache->batch_size(), x.size(0));
    E2LLM_CHECK(cache->num_layers() == config_.num_layers, "KV cache has {} layers but the model has {}",
                cache->num_layers(), config_.num_layers);
    E2LLM_CHECK(cache->used() + x.size(1) <= cache->capacity(),
                "KV cache is full: {} slots used + {} new tokens > capacity {}", cache->used(), x.size(1),
                cache->capacity());
    start = cache->used();
    kv_valid = torch::cat({cache->slot_valid(), valid}, 1);
    kv_pos = torch::cat({cache->slot_positions(), positions}, 1);
  }
  AttentionContext full, local;
  std::tie(full.cos, full.sin) = rope_cos_sin(frequencies_for(config_.rope, rope_, config_, positions), positions,
                                              x.scalar_type());
  full.causal = {kv_valid, kv_pos, positions, start, std::nullopt};
  if (config_.has_sliding_layers()) {
    std::tie(local.cos, local.sin) = rope_cos_sin(
        frequencies_for(config_.local_rope, local_rope_, config_, positions), positions, x.scalar_type());
    local.causal = {kv_valid, kv_pos, positions, start, config_.sliding_window};
  }
  bool checkpoint = checkpoint_layers && !cache && torch::GradMode::is_enabled();
  if (checkpoint) {  // checkpointed layers get only the dense mask (and always run the reference)
    full.dense_mask();
    if (local.causal.defined()) local.dense_mask();
  }
  for (const auto& module : *layers) {
    auto& layer = *module->as<DecoderLayerImpl>();
    const AttentionContext& ctx = layer.kind == AttentionKind::Sliding ? local : full;
    x = checkpoint ? checkpointed_layer(layer, x, ctx) : layer.forward(x, ctx, cache);
  }
  if (cache) cache->advance(valid, positions);
  return norm->forward(x);
}

}  // namespace e2llm::detail
