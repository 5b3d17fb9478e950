// Rotary position embeddings (Su et al., RoFormer): the arithmetic every
// family shares. How the inverse frequencies are scaled is the family's own
// business (decoder/rope.h: transformers' scalings; the GTE encoder: new-impl's NTK).
#pragma once
#include <torch/types.h>

#include <utility>

namespace e2llm::nn {

// 1 / base^(2i / dim), i = 0 .. dim/2 - 1, in float32 (as transformers computes it).
torch::Tensor rope_inverse_frequencies(double base, int64_t dim);

// cos and sin of the angles positions × inv_freq, each [..., dim] (the dim/2
// angles twice, rotate_half's layout) for positions of any shape (integer or
// float), computed in float32 on positions' device, multiplied by
// `attention_scaling` when it is not 1 (YaRN), then cast to `dtype`.
std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     torch::ScalarType dtype, double attention_scaling = 1.0);

// x * cos + rotate_half(x) * sin, where rotate_half(x) = cat(-x2, x1) over the
// halves of the last axis; cos and sin broadcast against x (any layout).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace e2llm::nn
