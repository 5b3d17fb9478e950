// Causal grouped-query attention of the decoder: the ATen-ops reference
// (transformers' eager attention; autograd, any device) and a fused CPU kernel
// for inference that never materialises the T×S scores.
//
// The fused kernel takes one (sequence, KV head, pair of query blocks) per
// task: the G query heads sharing the KV head are stacked as rows, key tiles
// stream past them with an online softmax (running max and sum, the
// accumulator rescaled when the max grows), and key tiles past the causal
// bound of the block's last query are never touched. Memory is a float32
// copy of K (packed for the kernel) plus O(rows·d) scratch per thread, instead
// of the reference's O(H·T·S) scores plus the [B, T, S] mask.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <optional>

namespace e2llm::detail {

// Which keys each query may attend, in the form the KV cache keeps it.
// Query t of sequence b may attend slot s iff s <= start + t (causal over
// slots), kv_valid[b][s] (padding slots are never attended) and, for sliding
// layers, q_pos[b][t] - kv_pos[b][s] < window.
struct CausalMask {
  torch::Tensor kv_valid;  // [B, S] bool
  torch::Tensor kv_pos;    // [B, S] int64
  torch::Tensor q_pos;     // [B, T] int64
  int64_t start = 0;       // slots written before this forward (the first `start` keys come from the cache)
  std::optional<int64_t> window;

  bool defined() const { return kv_valid.defined(); }
};

// The mask as [B, 1, 1, T, S] bool (true = may attend), for grouped_attention.
torch::Tensor dense_mask(const CausalMask& m);

// The reference: q [B, H, T, d]; k, v [B, KVH, S, d]; mask [B, 1, 1, T, S].
// Scores q·kᵀ·scale, optionally softcapped (tanh(x / cap)·cap), softmax in
// float32; a query with no visible key gets uniform weights over all S keys.
// Returns [B, H, T, d] in q's dtype.
torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& mask, double scale, const std::optional<double>& softcap);

// grouped_attention's result and gradients, for training: query blocks of
// `block_rows` rows against only the keys some row of the block may see, each
// row's softmax max and sum kept, and the backward pass recomputing each
// block's weights from them (the FlashAttention scheme, in ATen matrix products). Memory
// O(block_rows · S) per head instead of the reference's O(T · S) kept for the
// backward, and the keys past a block's causal bound are never multiplied.
torch::Tensor blockwise_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& mask, double scale, const std::optional<double>& softcap,
                                  int64_t block_rows = 256);

// Whether the decoder runs blockwise_attention where the fused kernel does not
// apply: more than 256 queries, on the CPU, and not the kReference setting.
bool use_blockwise_attention(const torch::Tensor& q);

// The fused kernel, same arguments and result as grouped_attention with
// dense_mask(m). CPU tensors, no autograd graph (check with
// use_fused_causal_attention first).
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const CausalMask& m, double scale, const std::optional<double>& softcap);

enum class CausalAttentionKernel {
  kAuto,       // the AVX2 kernel on the CPU without autograd when the CPU has AVX2 + FMA and d % 8 == 0,
               // else the reference (the portable kernel is slower than ATen's BLAS)
  kReference,  // grouped_attention always
  kPortable,   // the fused kernel in plain C++ whenever it can run (tests; CPUs without AVX2 on request)
  kAvx2,       // the fused kernel with AVX2 + FMA (kPortable without them, or when d % 8 != 0)
};
// Initially from $E2LLM_DECODER_ATTENTION (auto, reference, portable, avx2;
// read once), else kAuto. Tests and benchmarks pin one with the setter.
void set_causal_attention_kernel(CausalAttentionKernel kernel);
CausalAttentionKernel causal_attention_kernel();

// Whether the current setting runs causal_attention for these inputs (else
// grouped_attention): never when autograd needs the graph or off the CPU.
bool use_fused_causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace e2llm::detail
