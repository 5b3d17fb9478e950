// Rotary position embeddings (RoPE) with the scalings transformers 5.x
// implements: default, linear, dynamic NTK, llama3 and YaRN. The rotation
// itself (nn::apply_rope) and the cos/sin arithmetic are shared with the
// encoder in e2llm/nn/rope.h.
#pragma once
#include <torch/types.h>

#include "e2llm/decoder/decoder_config.h"
#include "e2llm/nn/rope.h"

namespace e2llm {

struct RopeFrequencies {
  torch::Tensor inv_freq;         // [head_dim / 2] float32
  double attention_scaling = 1.0; // multiplies cos and sin (YaRN)
};

// `seq_len` only matters for dynamic NTK: the longest position + 1 seen by the
// current forward (HF recomputes the base when it exceeds max_position_embeddings).
RopeFrequencies rope_frequencies(const RopeConfig& rope, int64_t head_dim, int64_t max_position_embeddings,
                                 int64_t seq_len = 0);

// cos and sin for positions [B, T] (int64): each [B, 1, T, head_dim] in `dtype`,
// broadcastable over heads.
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const RopeFrequencies& freqs, const torch::Tensor& positions,
                                                     torch::ScalarType dtype);

}  // namespace e2llm
