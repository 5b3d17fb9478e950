// The E2LLM adapter: maps pooled encoder vectors into the decoder's embedding
// space, Linear -> GELU -> Linear (encoder width -> hidden -> decoder width).
// Every parameter is trainable; names are "fc1.weight", "fc1.bias",
// "fc2.weight", "fc2.bias" (checkpoint keys add the owner's prefix).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace e2llm {

struct AdapterOptions {
  int64_t input_dim = 0;   // encoder hidden size
  int64_t hidden_dim = 0;  // 0 = output_dim, as in the paper
  int64_t output_dim = 0;  // decoder hidden size
};

class AdapterImpl : public torch::nn::Module {
 public:
  // Weights are drawn from the current torch generator (seed it first);
  // biases start at zero.
  explicit AdapterImpl(const AdapterOptions& options);
  // x: [..., input_dim] -> [..., output_dim], in the parameters' dtype.
  torch::Tensor forward(const torch::Tensor& x);
  const AdapterOptions& options() const { return options_; }

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  AdapterOptions options_;
};
TORCH_MODULE(Adapter);

}  // namespace e2llm
