// GTE-v1.5 "NewModel" (Alibaba-NLP/new-impl), the encoder of the E2LLM paper:
// word (+ token type) embeddings and LayerNorm, no absolute positions; each
// layer is post-LN self-attention with RoPE on q and k (fused qkv_proj) and a
// gated MLP (up_gate_proj -> up, gate; down_proj(act(gate) * up)).
// RoPE with rope_scaling {type: ntk, factor[, mixed_b]} follows new-impl's
// NTKScalingRotaryEmbedding: with factor > 1 its cache always covers
// max_position_embeddings × factor, so the scaled frequencies apply at every length.
#include <fmt/format.h>

#include <cmath>

#include "e2llm/nn/rope.h"
#include "encoder/encoder_internal.h"

namespace e2llm::encoder_detail {
namespace {

AttentionPaths gte_attention(bool pack_qkv) {
  return {.qkv = pack_qkv ? "attention.qkv_proj" : "", .q = "attention.q_proj", .k = "attention.k_proj",
          .v = "attention.v_proj", .out = "attention.o_proj", .norm = "attn_ln"};
}

struct GteLayer {
  SelfAttention attention;
  nn::Linear up_gate{nullptr}, down{nullptr};
  Norm mlp_norm;
};

// inv_freq[i] = 1 / base^(2i/d), NTK-scaled as new-impl does (float32, like its buffers).
torch::Tensor rope_inverse_frequencies(const EncoderConfig& c) {
  const int64_t d = c.head_dim();
  const bool ntk = c.rope_scaling && c.rope_scaling->factor > 1.0;
  if (!ntk) return nn::rope_inverse_frequencies(c.rope_theta, d);
  const double factor = c.rope_scaling->factor;
  if (!c.rope_scaling->mixed_b) {
    torch::Tensor inv = nn::rope_inverse_frequencies(c.rope_theta * factor, d);
    return inv / std::pow(factor, 2.0 / static_cast<double>(d));  // kexue.fm/archives/9706 eq. (6)
  }
  const double b = *c.rope_scaling->mixed_b;
  torch::Tensor inv = nn::rope_inverse_frequencies(c.rope_theta, d);
  const double a = static_cast<double>(std::log(static_cast<float>(factor))) /
                   std::pow(static_cast<double>(d / 2), b);                         // eq. (13)
  torch::Tensor lambda = (a * torch::arange(1, d / 2 + 1, torch::kFloat32).pow(b)).exp();  // eq. (12)
  return inv / lambda;                                                                // eq. (10)
}

class GteModel : public EncoderBase {
 public:
  GteModel(const EncoderConfig& config, const WeightLoader& w)
      : EncoderBase(config, w, /*position_table=*/config.position_embedding_type == "absolute") {
    if (config.position_embedding_type == "rope")
      inv_freq_ = rope_inverse_frequencies(config).to(w.device());
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers_.push_back(load_layer(w, i));
  }

  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) override {
    torch::Tensor x = embed(ids);
    const torch::ScalarType storage = x.scalar_type();
    x = x.to(compute_dtype(x));
    AttentionInputs in;
    in.bias = attention_bias(mask, x.scalar_type());
    in.scale = logn_scale(mask, x.scalar_type());
    if (inv_freq_.defined()) std::tie(in.cos, in.sin) = rope_tables(ids.size(1), x.scalar_type(), x.device());
    for (GteLayer& layer : layers_) x = layer_forward(layer, x, in);
    return x.to(storage);
  }

 private:
  GteLayer load_layer(const WeightLoader& w, int64_t i) {
    const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
    const std::string p = fmt::format("encoder.layer.{}.", i);
    const bool rms = config_.layer_norm_type == "rms_norm";
    GteLayer l;
    l.attention = self_attention_at(*this, w, config_, p, gte_attention(config_.pack_qkv), rms);
    l.up_gate = nn::linear_at(*this, w, p + "mlp.up_gate_proj", h, 2 * inter, /*bias=*/false);
    l.down = nn::linear_at(*this, w, p + "mlp.down_proj", inter, h);
    l.mlp_norm = norm_at(*this, w, p + "mlp_ln", h, config_.layer_norm_eps, rms);
    return l;
  }

  // cos, sin [1, T, 1, d] for positions 0..T-1 (float32 angles, then cast).
  std::pair<torch::Tensor, torch::Tensor> rope_tables(int64_t t, torch::ScalarType dtype,
                                                      torch::Device device) const {
    auto [cos, sin] = nn::rope_cos_sin(inv_freq_, torch::arange(t, torch::dtype(torch::kLong).device(device)), dtype);
    return {cos.view({1, t, 1, -1}), sin.view({1, t, 1, -1})};
  }

  // logn attention scale (kexue.fm/archives/8823): log(n) / log(max_position_embeddings).
  torch::Tensor logn_scale(const torch::Tensor& mask, torch::ScalarType dtype) const {
    if (!config_.logn_attention_scale) return {};
    torch::Tensor n = mask.sum(1).to(torch::kFloat32);
    torch::Tensor scale = n.log() / std::log(static_cast<double>(config_.max_position_embeddings));
    if (config_.logn_attention_clip1) scale = scale.clamp_min(1.0);
    return scale.view({-1, 1, 1, 1}).to(dtype);
  }

  torch::Tensor layer_forward(GteLayer& l, const torch::Tensor& x, const AttentionInputs& in) {
    torch::Tensor h = l.attention(x, in);
    auto up_gate = l.up_gate->forward(h).split(config_.intermediate_size, -1);
    torch::Tensor m = l.down->forward(act_(up_gate[1]) * up_gate[0]);
    return l.mlp_norm(h + m);
  }

  torch::Tensor inv_freq_;  // [d / 2] float32 on the model's device; undefined without RoPE
  std::vector<GteLayer> layers_;
};

}  // namespace

std::shared_ptr<EncoderModel> make_gte(const EncoderConfig& config, const WeightLoader& w) {
  return std::make_shared<GteModel>(config, w);
}

}  // namespace e2llm::encoder_detail
