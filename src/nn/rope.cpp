#include "e2llm/nn/rope.h"

#include <ATen/Parallel.h>

#include <vector>

#include "e2llm/core/error.h"

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

namespace {

// Inference on float32 CPU tensors: one pass over x (any strides, cos and sin
// broadcast by zero strides) instead of seven ATen operations, whose dispatch
// cost more than the arithmetic in a decoding step. The same products and
// sums per element, so the same float32 results.
bool fused_applies(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || cos.requires_grad() || sin.requires_grad());
  if (grad || !x.device().is_cpu() || x.scalar_type() != torch::kFloat32 || x.size(-1) % 2) return false;
  for (const torch::Tensor* t : {&cos, &sin})
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat32 || t->dim() > x.dim()) return false;
  return true;
}

// t's strides as if expanded to x's shape (zero along broadcast dimensions),
// without a dispatched expand().
std::vector<int64_t> broadcast_strides(const torch::Tensor& t, const torch::Tensor& x) {
  const int64_t dims = x.dim(), lead = dims - t.dim();
  std::vector<int64_t> strides(dims, 0);
  for (int64_t i = 0; i < t.dim(); ++i) {
    E2LLM_CHECK(t.size(i) == x.size(lead + i) || t.size(i) == 1,
                "rope: cos/sin of size {} at dimension {} do not broadcast to the input's {}", t.size(i), lead + i,
                x.size(lead + i));
    strides[lead + i] = t.size(i) == 1 ? 0 : t.stride(i);
  }
  return strides;
}

torch::Tensor fused_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  torch::Tensor out = torch::empty(x.sizes(), x.options());  // contiguous
  const int64_t dims = x.dim(), d = x.size(-1), half = d / 2, rows = d ? x.numel() / d : 0;
  const float* xp = x.data_ptr<float>();
  const float* cp = cos.data_ptr<float>();
  const float* sp = sin.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const std::vector<int64_t> cos_stride = broadcast_strides(cos, x), sin_stride = broadcast_strides(sin, x);
  const c10::IntArrayRef size = x.sizes(), x_stride = x.strides();
  const int64_t xs = x_stride[dims - 1], cs = cos_stride[dims - 1], ss = sin_stride[dims - 1];
  at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t xo = 0, co = 0, so = 0;  // element offsets of row r
      for (int64_t rest = r, axis = dims - 2; axis >= 0; --axis) {
        const int64_t i = rest % size[axis];
        rest /= size[axis];
        xo += i * x_stride[axis], co += i * cos_stride[axis], so += i * sin_stride[axis];
      }
      float* o = op + r * d;
      for (int64_t i = 0; i < half; ++i)
        o[i] = xp[xo + i * xs] * cp[co + i * cs] + (-xp[xo + (i + half) * xs]) * sp[so + i * ss];
      for (int64_t i = half; i < d; ++i)
        o[i] = xp[xo + i * xs] * cp[co + i * cs] + xp[xo + (i - half) * xs] * sp[so + i * ss];
    }
  });
  return out;
}

}  // namespace

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  if (fused_applies(x, cos, sin)) return fused_rope(x, cos, sin);
  const int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace e2llm::nn
