#include "e2llm/compress/adapter.h"

#include "e2llm/core/error.h"

namespace e2llm {
namespace {

torch::nn::Linear make_linear(int64_t in, int64_t out) {
  torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(true));
  torch::NoGradGuard no_grad;
  // Small normal init (std 0.02, as in the LLM's own layers) keeps the soft
  // tokens near the scale of real token embeddings from the first step.
  linear->weight.normal_(0.0, 0.02);
  linear->bias.zero_();
  return linear;
}

}  // namespace

AdapterImpl::AdapterImpl(const AdapterOptions& options) : options_(options) {
  if (options_.hidden_dim == 0) options_.hidden_dim = options_.output_dim;
  E2LLM_CHECK(options_.input_dim > 0 && options_.hidden_dim > 0 && options_.output_dim > 0,
              "adapter: dimensions must be positive (input {}, hidden {}, output {})",
              options_.input_dim, options_.hidden_dim, options_.output_dim);
  fc1 = register_module("fc1", make_linear(options_.input_dim, options_.hidden_dim));
  fc2 = register_module("fc2", make_linear(options_.hidden_dim, options_.output_dim));
}

torch::Tensor AdapterImpl::forward(const torch::Tensor& x) {
  E2LLM_CHECK(x.dim() >= 1 && x.size(-1) == options_.input_dim,
              "adapter: input has last dimension {}, expected the encoder width {}",
              x.dim() >= 1 ? x.size(-1) : 0, options_.input_dim);
  torch::Tensor h = x.to(fc1->weight.scalar_type());
  return fc2->forward(torch::gelu(fc1->forward(h)));
}

}  // namespace e2llm
