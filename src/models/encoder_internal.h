// Pieces shared by the encoder families (bert.cpp, gte.cpp): building a module
// tree whose names mirror Hugging Face's, loading weights into it, and the
// attention / normalisation arithmetic.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "e2llm/encoder.h"
#include "e2llm/lora.h"

namespace e2llm::encoder_detail {

// Fetches tensors by Hugging Face name, checked against the shape the config
// implies, in the target dtype and on the target device.
class WeightLoader {
 public:
  WeightLoader(const Weights& weights, const EncoderOptions& options, std::string prefix);
  bool has(const std::string& name) const;
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  const Weights& weights_;
  EncoderOptions options_;
  std::string prefix_;
};

// "" or the head-model prefix ("bert.", "roberta.", "new.", ...) the checkpoint uses.
std::string detect_prefix(const Weights& weights);

// The module at dotted `path` below root, creating plain container modules on the way.
torch::nn::Module& module_at(torch::nn::Module& root, const std::string& path);

// Registers a frozen parameter at "a.b.c.weight"-style path; returns it.
torch::Tensor frozen_at(torch::nn::Module& root, const std::string& path, torch::Tensor value);

// An nn::Linear loaded from <path>.weight (+ <path>.bias) and registered at path.
nn::Linear linear_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path,
                     int64_t out_features, int64_t in_features, bool bias = true);

// The dtype the layers compute in for activations stored as x's dtype: bf16
// models run in float32 on CPUs without a fast bf16 GEMM (bf16_matmul_native),
// where bf16 activations would only add conversions around every product;
// the weights stay bf16 and the output is cast back.
torch::ScalarType compute_dtype(const torch::Tensor& x);

struct Norm {
  torch::Tensor weight, bias;  // bias undefined for RMSNorm
  double eps = 1e-12;
  bool rms = false;
  torch::Tensor operator()(const torch::Tensor& x) const;
};
Norm norm_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t size,
             double eps, bool rms = false);

using Activation = std::function<torch::Tensor(const torch::Tensor&)>;
Activation activation(const std::string& hidden_act);

// [B, T] mask -> additive bias [B, 1, 1, T]: 0 for real keys, the dtype's lowest for padding.
torch::Tensor attention_bias(const torch::Tensor& mask, torch::ScalarType dtype);

// q, k, v [B, T, heads, d] -> context [B, T, heads·d]; bias [B, 1, 1, T].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& bias);

// The families (bert.cpp: BERT and XLM-R; gte.cpp: GTE-v1.5 NewModel).
std::shared_ptr<EncoderModel> make_bert(const EncoderConfig& config, const WeightLoader& w);
std::shared_ptr<EncoderModel> make_gte(const EncoderConfig& config, const WeightLoader& w);

}  // namespace e2llm::encoder_detail
