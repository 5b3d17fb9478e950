// Loading checkpoint tensors into module parameters, for every model family
// (encoder and decoder): tensors by Hugging Face name below a prefix, checked
// against the shape the config implies, in the model's dtype on its device,
// as frozen parameters or nn::Linear layers. Loading never copies a tensor
// that already has the wanted dtype and device (it stays on the mmap).
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "e2llm/io/weights.h"
#include "e2llm/nn/lora.h"

namespace e2llm::nn {

class WeightLoader {
 public:
  // `weights` must outlive the loader; `prefix` is prepended to every name.
  // With `keep_quantized`, linear() and quantized() hand out block-quantized
  // matrices in place instead of converting them to `dtype` (CPU only).
  WeightLoader(const Weights& weights, torch::ScalarType dtype, torch::Device device, std::string prefix = "",
               bool keep_quantized = false);

  bool has(const std::string& name) const;
  // The tensor <prefix><name>, shape-checked, in dtype() on device(); throws
  // e2llm::Error naming the full key when it is absent or misshapen.
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) const;
  // get() when `wanted`, else an undefined tensor (an optional bias).
  torch::Tensor get_optional(const std::string& name, const std::vector<int64_t>& shape, bool wanted) const;
  // Linear from <name>.weight [out, in] (+ <name>.bias [out] when `bias`),
  // over the file's quantized blocks when quantized() has them.
  Linear linear(const std::string& name, int64_t in_features, int64_t out_features, bool bias = true) const;
  // With keep_quantized, the tensor <prefix><name> of `shape` [rows, cols] as
  // the file's blocks when a quantized kernel reads its type; else nullptr.
  std::shared_ptr<const QuantizedTensor> quantized(const std::string& name, const std::vector<int64_t>& shape) const;
  // The loader for the names below <name>.
  WeightLoader sub(const std::string& name) const;

  const std::string& prefix() const { return prefix_; }
  torch::ScalarType dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  bool keep_quantized() const { return keep_quantized_; }

 private:
  const Weights* weights_;
  torch::ScalarType dtype_;
  torch::Device device_;
  std::string prefix_;
  bool keep_quantized_;
};

// ---- building a module tree from dotted paths -----------------------------------
// For model code that mirrors Hugging Face's module paths without a C++ class
// per level: "encoder.layer.0.attention.self.query" creates the plain container
// modules "encoder", "layer", "0", ... on the way.

// The module at dotted `path` below root ("" = root), creating containers as needed.
torch::nn::Module& module_at(torch::nn::Module& root, const std::string& path);

// Registers `value` as a frozen parameter at "a.b.weight"-style path; returns it.
torch::Tensor frozen_at(torch::nn::Module& root, const std::string& path, torch::Tensor value);
// Loads w.get(path, shape) and registers it at the same path.
torch::Tensor frozen_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path,
                        const std::vector<int64_t>& shape);

// w.linear(path, ...) registered at the same path.
Linear linear_at(torch::nn::Module& root, const WeightLoader& w, const std::string& path, int64_t in_features,
                 int64_t out_features, bool bias = true);

}  // namespace e2llm::nn
