// BertModel and XLMRobertaModel (identical but for where positions start):
// embeddings (word + position + token type, LayerNorm), then post-LN layers of
// self-attention and a GELU MLP. Module paths are Hugging Face's.
#include <fmt/format.h>

#include "models/encoder_internal.h"

namespace e2llm::encoder_detail {
namespace {

struct BertLayer {
  nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, attention_out{nullptr};
  nn::Linear intermediate{nullptr}, output{nullptr};
  Norm attention_norm, output_norm;
};

class BertModel : public EncoderModel {
 public:
  BertModel(const EncoderConfig& config, const WeightLoader& w) : config_(config) {
    const int64_t h = config.hidden_size;
    word_ = frozen_at(*this, "embeddings.word_embeddings.weight",
                      w.get("embeddings.word_embeddings.weight", {config.vocab_size, h}));
    position_ = frozen_at(*this, "embeddings.position_embeddings.weight",
                          w.get("embeddings.position_embeddings.weight", {config.max_position_embeddings, h}));
    if (config.type_vocab_size > 0)
      token_type_ = frozen_at(*this, "embeddings.token_type_embeddings.weight",
                              w.get("embeddings.token_type_embeddings.weight", {config.type_vocab_size, h}));
    embedding_norm_ = norm_at(*this, w, "embeddings.LayerNorm", h, config.layer_norm_eps);
    act_ = activation(config.hidden_act);
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers_.push_back(load_layer(w, i));
  }

  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) override {
    const torch::Tensor embedded = embed(ids);
    torch::Tensor x = embedded.to(compute_dtype(embedded));
    const torch::Tensor bias = attention_bias(mask, x.scalar_type());
    for (BertLayer& layer : layers_) x = layer_forward(layer, x, bias);
    return x.to(embedded.scalar_type());
  }

 private:
  BertLayer load_layer(const WeightLoader& w, int64_t i) {
    const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
    const std::string p = fmt::format("encoder.layer.{}.", i);
    BertLayer l;
    l.query = linear_at(*this, w, p + "attention.self.query", h, h);
    l.key = linear_at(*this, w, p + "attention.self.key", h, h);
    l.value = linear_at(*this, w, p + "attention.self.value", h, h);
    l.attention_out = linear_at(*this, w, p + "attention.output.dense", h, h);
    l.attention_norm = norm_at(*this, w, p + "attention.output.LayerNorm", h, config_.layer_norm_eps);
    l.intermediate = linear_at(*this, w, p + "intermediate.dense", inter, h);
    l.output = linear_at(*this, w, p + "output.dense", h, inter);
    l.output_norm = norm_at(*this, w, p + "output.LayerNorm", h, config_.layer_norm_eps);
    return l;
  }

  // XLM-R (fairseq): positions count real tokens from pad_token_id + 1; padding
  // gets pad_token_id. BERT: 0, 1, 2, ...
  torch::Tensor position_ids(const torch::Tensor& ids) const {
    if (config_.family != EncoderFamily::kXlmRoberta)
      return torch::arange(ids.size(1), ids.options()).unsqueeze(0).expand_as(ids);
    torch::Tensor real = ids.ne(config_.pad_token_id).to(torch::kLong);
    return real.cumsum(1).mul_(real).add_(config_.pad_token_id);
  }

  torch::Tensor embed(const torch::Tensor& ids) const {
    torch::Tensor x = torch::embedding(word_, ids) + torch::embedding(position_, position_ids(ids));
    // Chunks are single segments: token type 0 everywhere.
    if (token_type_.defined()) x = x + token_type_[0];
    return embedding_norm_(x);
  }

  torch::Tensor layer_forward(BertLayer& l, const torch::Tensor& x, const torch::Tensor& bias) {
    const int64_t b = x.size(0), t = x.size(1), heads = config_.num_attention_heads, d = config_.head_dim();
    torch::Tensor q = l.query->forward(x).view({b, t, heads, d});
    torch::Tensor k = l.key->forward(x).view({b, t, heads, d});
    torch::Tensor v = l.value->forward(x).view({b, t, heads, d});
    torch::Tensor h = l.attention_norm(x + l.attention_out->forward(attention(q, k, v, bias)));
    torch::Tensor m = l.output->forward(act_(l.intermediate->forward(h)));
    return l.output_norm(h + m);
  }

  EncoderConfig config_;
  torch::Tensor word_, position_, token_type_;
  Norm embedding_norm_;
  Activation act_;
  std::vector<BertLayer> layers_;
};

}  // namespace

std::shared_ptr<EncoderModel> make_bert(const EncoderConfig& config, const WeightLoader& w) {
  return std::make_shared<BertModel>(config, w);
}

}  // namespace e2llm::encoder_detail
