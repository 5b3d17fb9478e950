#include "e2llm/nn/rope.h"

namespace e2llm::nn {

torch::Tensor rope_inverse_frequencies(double base, int64_t dim) {
  auto exponents = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  return 1.0 / torch::pow(torch::scalar_tensor(base, torch::kFloat32), exponents);
}

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                     torch::ScalarType dtype, double attention_scaling) {
  torch::Tensor freqs = positions.unsqueeze(-1).to(torch::kFloat32) * inv_freq.to(positions.device());  // [..., D/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);                                                    // [..., D]
  torch::Tensor cos = emb.cos(), sin = emb.sin();
  if (attention_scaling != 1.0) cos = cos * attention_scaling, sin = sin * attention_scaling;
  return {cos.to(dtype), sin.to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace e2llm::nn
