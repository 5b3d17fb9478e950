#include "e2llm/nn/norm.h"

#include <utility>

namespace e2llm::nn {

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unit_offset) {
  torch::Tensor h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (unit_offset) return (h * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight.to(x.scalar_type()) * h.to(x.scalar_type());
}

RmsNormImpl::RmsNormImpl(torch::Tensor w, double eps, bool unit_offset) : eps_(eps), unit_offset_(unit_offset) {
  weight = register_parameter("weight", std::move(w), /*requires_grad=*/false);
}

}  // namespace e2llm::nn
