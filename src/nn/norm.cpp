#include "e2llm/nn/norm.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <utility>

namespace e2llm::nn {
namespace {

// Inference on float32 CPU tensors: one pass per row instead of the five
// ATen operations below (their dispatch cost more than the arithmetic in a
// decoding step: 7% of it). Same formula; the sum of squares is accumulated
// in double, so it differs from ATen's float mean by rounding only.
bool fused_applies(const torch::Tensor& x, const torch::Tensor& weight) {
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  return !grad && x.device().is_cpu() && weight.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
         weight.scalar_type() == torch::kFloat32 && x.dim() >= 1 && weight.dim() == 1 &&
         weight.size(0) == x.size(-1);
}

torch::Tensor fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unit_offset) {
  const torch::Tensor in = x.contiguous(), w = weight.contiguous();
  torch::Tensor out = torch::empty_like(in);
  const int64_t size = in.size(-1), rows = size ? in.numel() / size : 0;
  const float* src = in.data_ptr<float>();
  const float* scale = w.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = src + r * size;
      double squares = 0;
      for (int64_t i = 0; i < size; ++i) squares += static_cast<double>(row[i]) * row[i];
      const float inv = 1.0f / std::sqrt(static_cast<float>(squares / static_cast<double>(size)) + static_cast<float>(eps));
      float* o = dst + r * size;
      if (unit_offset)
        for (int64_t i = 0; i < size; ++i) o[i] = row[i] * inv * (1.0f + scale[i]);
      else
        for (int64_t i = 0; i < size; ++i) o[i] = scale[i] * (row[i] * inv);
    }
  });
  return out;
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unit_offset) {
  if (fused_applies(x, weight)) return fused_rms_norm(x, weight, eps, unit_offset);
  torch::Tensor h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (unit_offset) return (h * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight.to(x.scalar_type()) * h.to(x.scalar_type());
}

RmsNormImpl::RmsNormImpl(torch::Tensor w, double eps, bool unit_offset) : eps_(eps), unit_offset_(unit_offset) {
  weight = register_parameter("weight", std::move(w), /*requires_grad=*/false);
}

}  // namespace e2llm::nn
