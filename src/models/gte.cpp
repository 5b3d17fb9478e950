// GTE-v1.5 "NewModel" (Alibaba-NLP/new-impl), the encoder of the E2LLM paper:
// word (+ token type) embeddings and LayerNorm, no absolute positions; each
// layer is post-LN self-attention with RoPE on q and k (fused qkv_proj) and a
// gated MLP (up_gate_proj -> up, gate; down_proj(act(gate) * up)).
// RoPE with rope_scaling {type: ntk, factor[, mixed_b]} follows new-impl's
// NTKScalingRotaryEmbedding: with factor > 1 its cache always covers
// max_position_embeddings × factor, so the scaled frequencies apply at every length.
#include <fmt/format.h>

#include <cmath>

#include "models/encoder_internal.h"

namespace e2llm::encoder_detail {
namespace {

struct GteLayer {
  nn::Linear qkv{nullptr}, q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr};
  nn::Linear up_gate{nullptr}, down{nullptr};
  Norm attention_norm, mlp_norm;
};

// inv_freq[i] = 1 / base^(2i/d), NTK-scaled as new-impl does (float32, like its buffers).
torch::Tensor rope_inverse_frequencies(const EncoderConfig& c) {
  const int64_t d = c.head_dim();
  torch::Tensor exponents = torch::arange(0, d, 2, torch::kFloat32) / static_cast<double>(d);
  const bool ntk = c.rope_scaling && c.rope_scaling->factor > 1.0;
  if (!ntk) return 1.0 / torch::pow(c.rope_theta, exponents);
  const double factor = c.rope_scaling->factor;
  if (!c.rope_scaling->mixed_b) {
    torch::Tensor inv = 1.0 / torch::pow(c.rope_theta * factor, exponents);
    return inv / std::pow(factor, 2.0 / static_cast<double>(d));  // kexue.fm/archives/9706 eq. (6)
  }
  const double b = *c.rope_scaling->mixed_b;
  torch::Tensor inv = 1.0 / torch::pow(c.rope_theta, exponents);
  const double a = static_cast<double>(std::log(static_cast<float>(factor))) /
                   std::pow(static_cast<double>(d / 2), b);                         // eq. (13)
  torch::Tensor lambda = (a * torch::arange(1, d / 2 + 1, torch::kFloat32).pow(b)).exp();  // eq. (12)
  return inv / lambda;                                                                // eq. (10)
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return torch::cat({-halves[1], halves[0]}, -1);
}

class GteModel : public EncoderModel {
 public:
  GteModel(const EncoderConfig& config, const WeightLoader& w) : config_(config) {
    const int64_t h = config.hidden_size;
    word_ = frozen_at(*this, "embeddings.word_embeddings.weight",
                      w.get("embeddings.word_embeddings.weight", {config.vocab_size, h}));
    if (config.position_embedding_type == "absolute")
      position_ = frozen_at(*this, "embeddings.position_embeddings.weight",
                            w.get("embeddings.position_embeddings.weight", {config.max_position_embeddings, h}));
    if (config.type_vocab_size > 0)
      token_type_ = frozen_at(*this, "embeddings.token_type_embeddings.weight",
                              w.get("embeddings.token_type_embeddings.weight", {config.type_vocab_size, h}));
    embedding_norm_ = norm_at(*this, w, "embeddings.LayerNorm", h, config.layer_norm_eps);
    act_ = activation(config.hidden_act);
    inv_freq_ = rope_inverse_frequencies(config);
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers_.push_back(load_layer(w, i));
  }

  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) override {
    const int64_t t = ids.size(1);
    torch::Tensor x = torch::embedding(word_, ids);
    if (token_type_.defined()) x = x + token_type_[0];
    if (position_.defined()) x = x + position_.slice(0, 0, t);
    x = embedding_norm_(x);
    const torch::ScalarType storage = x.scalar_type();
    x = x.to(compute_dtype(x));
    const bool rope = config_.position_embedding_type == "rope";
    torch::Tensor cos, sin;
    if (rope) std::tie(cos, sin) = rope_tables(t, x.scalar_type(), x.device());
    const torch::Tensor bias = attention_bias(mask, x.scalar_type());
    const torch::Tensor scale = logn_scale(mask, x.scalar_type());
    for (GteLayer& layer : layers_) x = layer_forward(layer, x, bias, cos, sin, scale);
    return x.to(storage);
  }

 private:
  GteLayer load_layer(const WeightLoader& w, int64_t i) {
    const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
    const std::string p = fmt::format("encoder.layer.{}.", i);
    GteLayer l;
    if (config_.pack_qkv) {
      l.qkv = linear_at(*this, w, p + "attention.qkv_proj", 3 * h, h);
    } else {
      l.q = linear_at(*this, w, p + "attention.q_proj", h, h);
      l.k = linear_at(*this, w, p + "attention.k_proj", h, h);
      l.v = linear_at(*this, w, p + "attention.v_proj", h, h);
    }
    l.out = linear_at(*this, w, p + "attention.o_proj", h, h);
    l.up_gate = linear_at(*this, w, p + "mlp.up_gate_proj", 2 * inter, h, /*bias=*/false);
    l.down = linear_at(*this, w, p + "mlp.down_proj", h, inter);
    const bool rms = config_.layer_norm_type == "rms_norm";
    l.attention_norm = norm_at(*this, w, p + "attn_ln", h, config_.layer_norm_eps, rms);
    l.mlp_norm = norm_at(*this, w, p + "mlp_ln", h, config_.layer_norm_eps, rms);
    return l;
  }

  // cos, sin [1, T, 1, d] for positions 0..T-1, computed in float32 then cast.
  std::pair<torch::Tensor, torch::Tensor> rope_tables(int64_t t, torch::ScalarType dtype,
                                                      torch::Device device) const {
    torch::Tensor positions = torch::arange(t, torch::kFloat32);
    torch::Tensor freqs = torch::outer(positions, inv_freq_);
    torch::Tensor angles = torch::cat({freqs, freqs}, -1).view({1, t, 1, -1});
    return {angles.cos().to(device, dtype), angles.sin().to(device, dtype)};
  }

  // logn attention scale (kexue.fm/archives/8823): log(n) / log(max_position_embeddings).
  torch::Tensor logn_scale(const torch::Tensor& mask, torch::ScalarType dtype) const {
    if (!config_.logn_attention_scale) return {};
    torch::Tensor n = mask.sum(1).to(torch::kFloat32);
    torch::Tensor scale = n.log() / std::log(static_cast<double>(config_.max_position_embeddings));
    if (config_.logn_attention_clip1) scale = scale.clamp_min(1.0);
    return scale.view({-1, 1, 1, 1}).to(dtype);
  }

  torch::Tensor layer_forward(GteLayer& l, const torch::Tensor& x, const torch::Tensor& bias,
                              const torch::Tensor& cos, const torch::Tensor& sin,
                              const torch::Tensor& scale) {
    const int64_t b = x.size(0), t = x.size(1), heads = config_.num_attention_heads, d = config_.head_dim();
    torch::Tensor q, k, v;
    if (l.qkv) {
      auto parts = l.qkv->forward(x).split(config_.hidden_size, -1);
      q = parts[0], k = parts[1], v = parts[2];
    } else {
      q = l.q->forward(x), k = l.k->forward(x), v = l.v->forward(x);
    }
    q = q.reshape({b, t, heads, d});
    k = k.reshape({b, t, heads, d});
    v = v.reshape({b, t, heads, d});
    if (cos.defined()) {
      q = q * cos + rotate_half(q) * sin;
      k = k * cos + rotate_half(k) * sin;
    }
    if (scale.defined()) q = q * scale;
    torch::Tensor h = l.attention_norm(x + l.out->forward(attention(q, k, v, bias)));
    auto up_gate = l.up_gate->forward(h).split(config_.intermediate_size, -1);
    torch::Tensor m = l.down->forward(act_(up_gate[1]) * up_gate[0]);
    return l.mlp_norm(h + m);
  }

  EncoderConfig config_;
  torch::Tensor word_, position_, token_type_, inv_freq_;
  Norm embedding_norm_;
  Activation act_;
  std::vector<GteLayer> layers_;
};

}  // namespace

std::shared_ptr<EncoderModel> make_gte(const EncoderConfig& config, const WeightLoader& w) {
  return std::make_shared<GteModel>(config, w);
}

}  // namespace e2llm::encoder_detail
