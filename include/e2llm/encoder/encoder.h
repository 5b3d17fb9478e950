// BERT-family text encoders (BERT, XLM-RoBERTa, GTE-v1.5 "NewModel") loaded
// from Hugging Face folders, with batched, length-bucketed chunk encoding and
// pooling to k vectors per chunk (E2LLM's chunk encoder).
//
// The module tree of model() mirrors Hugging Face's module paths
// ("encoder.layer.0.attention.self.query", "encoder.layer.0.mlp.up_gate_proj"),
// and every linear layer is an e2llm::nn::Linear, so
// nn::apply_lora(encoder.module(), cfg) gives adapters whose keys equal PEFT's.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2llm/encoder/encoder_config.h"
#include "e2llm/compress/pooling.h"
#include "e2llm/io/weights.h"

namespace e2llm {

struct EncoderOptions {
  torch::ScalarType dtype = torch::kFloat32;  // kFloat32 or kBFloat16 (weights and compute)
  torch::Device device = torch::kCPU;
};

// The transformer itself: token ids and mask in, last hidden states out.
class EncoderModel : public torch::nn::Module {
 public:
  // ids [B, T] int64, mask [B, T] (1 = real token) -> [B, T, H] in the model's dtype.
  virtual torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) = 0;
};

// Builds the model for `config` from weights under Hugging Face names (an
// optional "bert." / "roberta." / "new." prefix is detected).
std::shared_ptr<EncoderModel> make_encoder_model(const EncoderConfig& config, const Weights& weights,
                                                 const EncoderOptions& options);

struct BatchingOptions {
  // Upper bound on batch_size × padded_length per forward pass (memory bound).
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_size = 256;
  // Called after each forward pass with the chunks encoded so far and in
  // all: progress for long documents, and the place to stop one (whatever
  // it throws propagates out of encode_tokens).
  std::function<void(size_t done, size_t total)> after_batch = nullptr;
};

// Length-bucketed batches: indices sorted by length (longest first), cut so that
// every batch stays under max_batch_tokens (a chunk longer than the budget goes alone).
std::vector<std::vector<size_t>> plan_batches(const std::vector<int64_t>& lengths,
                                              const BatchingOptions& options);

class TextEncoder {
 public:
  // A Hugging Face model folder (config.json + model.safetensors [+ sentence-transformers files]).
  static TextEncoder load(const std::string& folder, const EncoderOptions& options = {});
  TextEncoder(EncoderConfig config, std::shared_ptr<EncoderModel> model, EncoderOptions options);

  const EncoderConfig& config() const { return config_; }
  int64_t hidden_size() const { return config_.hidden_size; }
  const EncoderOptions& options() const { return options_; }
  // Longest chunk (tokens, specials included) the model takes, from its config:
  // max_position_embeddings - position_offset() for every family (BERT: 512 for
  // bert-base / MiniLM; XLM-R: 514 - 2 = 512; GTE-v1.5, RoPE: 8192). Always > 0.
  int64_t max_tokens() const;
  // The folder's sentence-transformers pooling when it has one.
  const std::optional<PoolingConfig>& default_pooling() const { return default_pooling_; }
  void set_default_pooling(std::optional<PoolingConfig> p) { default_pooling_ = std::move(p); }

  // Padded batch forward; autograd flows (LoRA training). ids [B, T], mask [B, T] -> [B, T, H].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask);

  // Encodes token-id chunks of any lengths, length-bucketed, and pools each:
  // [n_chunks, k, H] float32 in input order. Runs under the caller's grad mode.
  torch::Tensor encode_tokens(const std::vector<std::vector<int64_t>>& chunks, Pooler& pooler,
                              const BatchingOptions& batching = {});

  // One padded batch for `chunks` (right padding with pad_token_id): {ids, mask}.
  std::pair<torch::Tensor, torch::Tensor> pad_batch(const std::vector<std::vector<int64_t>>& chunks,
                                                    const std::vector<size_t>& which) const;

  EncoderModel& module() { return *model_; }  // LoRA root: names equal Hugging Face's
  std::shared_ptr<EncoderModel> model() const { return model_; }

 private:
  EncoderConfig config_;
  std::shared_ptr<EncoderModel> model_;
  EncoderOptions options_;
  std::optional<PoolingConfig> default_pooling_;
};

}  // namespace e2llm
