// RMSNorm (Zhang & Sennrich, 2019) as every model family here computes it:
// normalise in float32, then scale by the weight. Two scalings exist:
//   w · x̂ in the input dtype          (Llama, Qwen, Mistral, GTE's rms_norm)
//   (1 + w) · x̂ in float32, cast back  (Gemma: unit_offset)
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace e2llm::nn {

// x [..., size], weight [size]; returns x's dtype.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unit_offset = false);

// rms_norm with a frozen "weight" parameter (Hugging Face's module layout).
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(torch::Tensor weight, double eps, bool unit_offset = false);
  torch::Tensor forward(const torch::Tensor& x) { return rms_norm(x, weight, eps_, unit_offset_); }
  torch::Tensor weight;

 private:
  double eps_;
  bool unit_offset_;
};
TORCH_MODULE(RmsNorm);

}  // namespace e2llm::nn
