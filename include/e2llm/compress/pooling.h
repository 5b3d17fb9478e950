// Pooling a chunk's token states [B, T, H] (with its attention mask [B, T])
// into k vectors per chunk [B, k, H].
//
//   cls        the first token's state (k = 1).
//   mean       mean over the real (mask = 1) tokens, as sentence-transformers does (k = 1).
//   segments   the n real tokens cut into k contiguous segments, segment j covering
//              [floor(j·n/k), max(floor((j+1)·n/k), floor(j·n/k) + 1)), each averaged;
//              when n < k tokens repeat rather than a segment being empty. Padding never
//              counts, so a chunk pools the same whatever batch it is padded in.
//   attention  PMA (Set Transformer, Lee et al. 2019) with k learned seed queries S [k, H]
//              and h heads of size d = H/h, over the token states Z with padding masked:
//                Q = S·W_q + b_q,  K = Z·W_k + b_k,  V = Z·W_v + b_v
//                O = Q + concat_h softmax(Q_h·K_hᵀ/√d + mask)·V_h
//                H1 = LayerNorm_0(O)
//                out = LayerNorm_1(H1 + relu(H1·W_o + b_o))
//              (the reference code's MAB; the only change is the per-head √d scale).
//              Trainable: parameters seeds, fc_q, fc_k, fc_v, fc_o, ln0, ln1 (float32).
// Optional L2 normalisation of every output vector.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <optional>
#include <string>

#include "e2llm/compress/pooling_config.h"

namespace e2llm {

// A sentence-transformers folder's own pooling (modules.json + <pooling dir>/config.json;
// normalize when a Normalize module is listed). nullopt when the folder has no modules.json.
// Throws for pooling modes e2llm does not implement (max, mean_sqrt_len, ...).
std::optional<PoolingConfig> read_sentence_transformers_pooling(const std::string& folder);

// sentence_bert_config.json's max_seq_length: the tokens sentence-transformers
// keeps per text (256 for all-MiniLM-L6-v2, below its 512 positions).
// nullopt when the folder has no such file or it sets no length.
std::optional<int64_t> read_sentence_transformers_max_length(const std::string& folder);

// Functional poolers. hidden [B, T, H], mask [B, T] (1 = real token, right-padded or not).
torch::Tensor cls_pool(const torch::Tensor& hidden);                               // [B, 1, H]
torch::Tensor mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask);   // [B, 1, H]
torch::Tensor segment_mean_pool(const torch::Tensor& hidden, const torch::Tensor& mask, int64_t k);

class AttentionPoolingImpl : public torch::nn::Module {
 public:
  AttentionPoolingImpl(int64_t hidden_size, int64_t k, int64_t heads);
  // Computes in float32 (the parameters' dtype); returns [B, k, H] float32.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);

  torch::Tensor seeds;
  torch::nn::Linear fc_q{nullptr}, fc_k{nullptr}, fc_v{nullptr}, fc_o{nullptr};
  torch::nn::LayerNorm ln0{nullptr}, ln1{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(AttentionPooling);

// Any of the modes above as one module (parameters exist only for attention,
// under "pma."). Output is float32 [B, k, H].
class PoolerImpl : public torch::nn::Module {
 public:
  PoolerImpl(PoolingConfig config, int64_t hidden_size);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask);
  const PoolingConfig& config() const { return config_; }
  int64_t hidden_size() const { return hidden_size_; }

  AttentionPooling pma{nullptr};

 private:
  PoolingConfig config_;
  int64_t hidden_size_;
};
TORCH_MODULE(Pooler);

// A pooler as one safetensors file: its parameters by name, its config in the metadata.
void save_pooler(Pooler& pooler, const std::string& path);
Pooler load_pooler(const std::string& path);

}  // namespace e2llm
