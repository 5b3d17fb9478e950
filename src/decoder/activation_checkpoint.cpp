// Activation checkpointing for one decoder layer. LibTorch 1.13 has no
// torch::utils::checkpoint in C++, so this is a custom autograd Function: the
// forward runs without recording a graph and saves only the layer input;
// backward re-runs the layer with grad enabled and back-propagates through
// that recomputation. Parameter gradients (e.g. LoRA) accumulate into .grad
// as usual; the RNG state is replayed so dropout masks match the forward.
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "decoder/decoder_blocks.h"

namespace e2llm::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& state) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

struct CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, int64_t layer_address, torch::Tensor cos,
                               torch::Tensor sin, torch::Tensor mask) {
    ctx->saved_data["layer"] = layer_address;
    ctx->saved_data["rng"] = rng_state();
    ctx->save_for_backward({x, cos, sin, mask});
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(layer_address);
    torch::NoGradGuard no_grad;
    return layer->forward(x, AttentionContext{cos, sin, mask}, nullptr);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    at::Tensor now = rng_state();
    set_rng_state(ctx->saved_data["rng"].toTensor());
    torch::Tensor x = saved[0].detach().requires_grad_(true);
    {
      torch::AutoGradMode enable(true);
      torch::Tensor out = layer->forward(x, AttentionContext{saved[1], saved[2], saved[3]}, nullptr);
      torch::autograd::backward({out}, {grad_outputs[0]});
    }
    set_rng_state(now);
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed_layer(DecoderLayerImpl& layer, const torch::Tensor& x, const AttentionContext& ctx) {
  return CheckpointedLayer::apply(x, reinterpret_cast<int64_t>(&layer), ctx.cos, ctx.sin, ctx.mask);
}

}  // namespace e2llm::detail
