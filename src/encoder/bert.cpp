// BertModel and XLMRobertaModel (identical but for where positions start):
// embeddings (word + position + token type, LayerNorm), then post-LN layers of
// self-attention and a GELU MLP. Module paths are Hugging Face's.
#include <fmt/format.h>

#include "encoder/encoder_internal.h"

namespace e2llm::encoder_detail {
namespace {

const AttentionPaths kBertAttention{.qkv = "", .q = "attention.self.query", .k = "attention.self.key",
                                    .v = "attention.self.value", .out = "attention.output.dense",
                                    .norm = "attention.output.LayerNorm"};

struct BertLayer {
  SelfAttention attention;
  nn::Linear intermediate{nullptr}, output{nullptr};
  Norm output_norm;
};

class BertModel : public EncoderBase {
 public:
  BertModel(const EncoderConfig& config, const WeightLoader& w) : EncoderBase(config, w, /*position_table=*/true) {
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) layers_.push_back(load_layer(w, i));
  }

  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) override {
    const torch::Tensor embedded = embed(ids);
    torch::Tensor x = embedded.to(compute_dtype(embedded));
    AttentionInputs in;
    in.bias = attention_bias(mask, x.scalar_type());
    for (BertLayer& layer : layers_) x = layer_forward(layer, x, in);
    return x.to(embedded.scalar_type());
  }

 private:
  BertLayer load_layer(const WeightLoader& w, int64_t i) {
    const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
    const std::string p = fmt::format("encoder.layer.{}.", i);
    BertLayer l;
    l.attention = self_attention_at(*this, w, config_, p, kBertAttention);
    l.intermediate = nn::linear_at(*this, w, p + "intermediate.dense", h, inter);
    l.output = nn::linear_at(*this, w, p + "output.dense", inter, h);
    l.output_norm = norm_at(*this, w, p + "output.LayerNorm", h, config_.layer_norm_eps);
    return l;
  }

  torch::Tensor layer_forward(BertLayer& l, const torch::Tensor& x, const AttentionInputs& in) {
    torch::Tensor h = l.attention(x, in);
    torch::Tensor m = l.output->forward(act_(l.intermediate->forward(h)));
    return l.output_norm(h + m);
  }

  std::vector<BertLayer> layers_;
};

}  // namespace

std::shared_ptr<EncoderModel> make_bert(const EncoderConfig& config, const WeightLoader& w) {
  return std::make_shared<BertModel>(config, w);
}

}  // namespace e2llm::encoder_detail
