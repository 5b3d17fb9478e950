// Bidirectional (encoder) scaled dot-product attention.
//
// Inference on the CPU runs a fused kernel: one (chunk, head) at a time, a few
// query rows against all keys, so the T×T scores never leave the L1/L2 cache
// (at T = 512 the unfused form writes and re-reads 12 MB of scores per chunk
// and layer). Whenever autograd needs the graph, or off the CPU, the same
// arithmetic runs as ATen ops (batched matmuls + softmax).
#pragma once
#include <torch/types.h>

namespace e2llm::nn {

// q, k, v: [B, T, heads, d]; key_bias: additive bias on the keys, [B, T] or
// [B, 1, 1, T] (0 = attend, very negative = padding), or undefined.
// Returns softmax(q·kᵀ·scale + key_bias)·v as [B, T, heads·d] in q's dtype.
torch::Tensor encoder_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& key_bias, double scale);

// Which implementation encoder_attention uses (tests and benchmarks pin one).
enum class AttentionKernel {
  kAuto,       // fused on the CPU without autograd (AVX2 when the CPU has it), else ATen ops
  kReference,  // ATen ops always
  kPortable,   // the fused kernel in plain C++ (what CPUs without AVX2 run)
  kAvx2,       // the fused kernel with AVX2 + FMA (falls back to kPortable without them)
};
void set_attention_kernel(AttentionKernel kernel);
AttentionKernel attention_kernel();

}  // namespace e2llm::nn
