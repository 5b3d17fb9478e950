// RoPE frequency tables, written after transformers' modeling_rope_utils.py so
// that the same config gives the same float32 numbers.
#include "e2llm/rope.h"

#include <cmath>
#include <numbers>

#include "e2llm/error.h"

namespace e2llm {
namespace {

// 1 / base^(2i / dim), i = 0 .. dim/2-1, computed in float32 as transformers does.
torch::Tensor base_inv_freq(double base, int64_t dim) {
  auto exponents = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  return 1.0 / torch::pow(torch::scalar_tensor(base, torch::kFloat32), exponents);
}

torch::Tensor llama3_inv_freq(const RopeConfig& r, int64_t dim) {
  torch::Tensor inv_freq = base_inv_freq(r.theta, dim);
  double old_context = static_cast<double>(r.original_max_position_embeddings);
  double low_freq_wavelen = old_context / r.low_freq_factor;
  double high_freq_wavelen = old_context / r.high_freq_factor;
  torch::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
  // Long wavelengths are slowed down by `factor`, short ones kept, the middle band blended.
  torch::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / r.factor, inv_freq);
  torch::Tensor smooth = (old_context / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  torch::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
  torch::Tensor medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

RopeFrequencies yarn_frequencies(const RopeConfig& r, int64_t dim) {
  double base = r.theta, factor = r.factor;
  double attention = r.attention_factor ? *r.attention_factor
                     : (r.mscale && r.mscale_all_dim && *r.mscale != 0 && *r.mscale_all_dim != 0)
                         ? yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim)
                         : yarn_mscale(factor, 1.0);
  double original = static_cast<double>(r.original_max_position_embeddings);
  auto correction_dim = [&](double rotations) {
    return (dim * std::log(original / (rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  auto pos_freqs = torch::pow(torch::scalar_tensor(base, torch::kFloat32),
                              torch::arange(0, dim, 2).to(torch::kFloat32) / static_cast<double>(dim));
  torch::Tensor extrapolation = 1.0 / pos_freqs;
  torch::Tensor interpolation = 1.0 / (factor * pos_freqs);
  torch::Tensor ramp = ((torch::arange(dim / 2, torch::kFloat32) - low) / (high - low)).clamp(0, 1);
  torch::Tensor extrapolation_weight = 1 - ramp;
  return {interpolation * (1 - extrapolation_weight) + extrapolation * extrapolation_weight, attention};
}

}  // namespace

RopeFrequencies rope_frequencies(const RopeConfig& r, int64_t head_dim, int64_t max_positions, int64_t seq_len) {
  E2LLM_CHECK(head_dim > 0 && head_dim % 2 == 0, "RoPE needs an even head_dim, got {}", head_dim);
  switch (r.type) {
    case RopeType::Default:
      return {base_inv_freq(r.theta, head_dim), 1.0};
    case RopeType::Linear:
      return {base_inv_freq(r.theta, head_dim) / r.factor, 1.0};
    case RopeType::Dynamic: {
      // NTK-aware: grow the base once the sequence outruns the trained context.
      double len = static_cast<double>(std::max(seq_len, max_positions));
      double dim = static_cast<double>(head_dim);
      double base = r.theta * std::pow(r.factor * len / static_cast<double>(max_positions) - (r.factor - 1),
                                       dim / (dim - 2));
      return {base_inv_freq(base, head_dim), 1.0};
    }
    case RopeType::Llama3:
      return {llama3_inv_freq(r, head_dim), 1.0};
    case RopeType::Yarn:
      return yarn_frequencies(r, head_dim);
  }
  fail("unknown RoPE type");
}

std::pair<torch::Tensor, torch::Tensor> rope_cos_sin(const RopeFrequencies& f, const torch::Tensor& positions,
                                                     torch::ScalarType dtype) {
  torch::Tensor inv_freq = f.inv_freq.to(positions.device());
  torch::Tensor freqs = positions.unsqueeze(-1).to(torch::kFloat32) * inv_freq;  // [B, T, D/2]
  torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);             // [B, 1, T, D]
  torch::Tensor cos = emb.cos(), sin = emb.sin();
  if (f.attention_scaling != 1.0) cos = cos * f.attention_scaling, sin = sin * f.attention_scaling;
  return {cos.to(dtype), sin.to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace e2llm
