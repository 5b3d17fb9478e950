// Linear layers and LoRA (torchtune's idea): model code builds nn::Linear and
// calls forward(); it never knows whether a LoRA adapter was attached later by
// apply_lora(). Base weights are frozen parameters (requires_grad = false) and
// are never copied: they stay wherever the loader put them (often the mmap).
// A layer may instead hold GGUF block-quantized weights, read in place by the
// kernels of quantized_matmul.h (inference only); its adapter then stays a
// side path, since merging would need the weights in float.
//
// Module names must mirror Hugging Face's module paths exactly
// ("model.layers.0.self_attn.q_proj", "encoder.layer.0.attention.self.query"),
// so that adapter keys equal PEFT's:
//   base_model.model.<module path>.lora_A.weight   [r, in_features]
//   base_model.model.<module path>.lora_B.weight   [out_features, r]
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "e2llm/io/weights.h"

namespace e2llm::nn {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  bool use_rslora = false;  // scaling alpha/sqrt(r) instead of alpha/r
  // PEFT semantics: a module matches when its full name equals a target or
  // ends with "." + target. Empty = every nn::Linear.
  std::vector<std::string> target_modules;
  double scaling() const;
};

class LinearImpl : public torch::nn::Module {
 public:
  // weight: [out_features, in_features] (PyTorch layout); bias may be undefined.
  explicit LinearImpl(torch::Tensor weight, torch::Tensor bias = {});
  // Block-quantized weights [out_features, in_features] read in place; `weight`
  // stays undefined. Inference only: an input that needs a gradient is an error.
  explicit LinearImpl(std::shared_ptr<const QuantizedTensor> weight, torch::Tensor bias = {});
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  const QuantizedTensor* quantized() const { return quantized_.get(); }
  bool has_lora() const { return !lora_A.is_empty(); }
  bool merged() const { return merged_; }

  void attach_lora(const LoraConfig& config);
  // W += B·A·scale (inference speed) / W -= B·A·scale. In place on the base
  // weight; no-ops on quantized weights, whose adapter stays unmerged.
  void merge();
  void unmerge();

  torch::Tensor weight, bias;  // frozen
  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

 private:
  friend std::vector<torch::Tensor> forward_together(const std::vector<LinearImpl*>& layers, const torch::Tensor& x);
  torch::Tensor base_forward(const torch::Tensor& x);
  torch::Tensor with_adapter(const torch::Tensor& x, torch::Tensor base_output);  // + the LoRA path, if any
  bool side_path_in_place_applies(const torch::Tensor& x, const torch::Tensor& y) const;
  void check_no_gradient(const torch::Tensor& x) const;  // quantized weights are inference only
  torch::Tensor finish_quantized(const torch::Tensor& x, torch::Tensor y) const;  // + bias, in x's dtype
  std::shared_ptr<const QuantizedTensor> quantized_;
  int64_t in_features_ = 0, out_features_ = 0;
  double scaling_ = 0.0;
  double dropout_ = 0.0;
  bool merged_ = false;
};
TORCH_MODULE(Linear);

// forward() of several layers on the same input (q/k/v, gate/up). When all
// hold quantized weights, their base products run as one call of
// quantized_linears (one activation quantization, one parallel region);
// otherwise each layer runs on its own. Results equal each layer's forward(x).
std::vector<torch::Tensor> forward_together(const std::vector<LinearImpl*>& layers, const torch::Tensor& x);

// Attaches adapters to every matching nn::Linear below `root`; returns the
// names of the wrapped modules. Throws when no module matches.
std::vector<std::string> apply_lora(torch::nn::Module& root, const LoraConfig& config);

// Every nn::Linear below root, by full module name.
std::vector<std::pair<std::string, Linear>> named_linears(torch::nn::Module& root);

void merge_lora(torch::nn::Module& root);
void unmerge_lora(torch::nn::Module& root);

// The LoRA tensors under PEFT's key names (prefix defaults to PEFT's).
std::map<std::string, torch::Tensor> lora_state(torch::nn::Module& root,
                                                const std::string& key_prefix = "base_model.model.");

// PEFT layout: folder/adapter_config.json + folder/adapter_model.safetensors.
// task_type: "CAUSAL_LM" for decoders, "FEATURE_EXTRACTION" for encoders.
void save_peft_adapter(torch::nn::Module& root, const LoraConfig& config, const std::string& folder,
                       const std::string& base_model = "", const std::string& task_type = "CAUSAL_LM");
// Reads adapter_config.json, attaches adapters and loads their weights.
// Unknown, missing or misshapen keys are errors that name them.
LoraConfig load_peft_adapter(torch::nn::Module& root, const std::string& folder);

// Parameters with requires_grad (what an optimizer should see).
std::vector<torch::Tensor> trainable_parameters(torch::nn::Module& root);

}  // namespace e2llm::nn
