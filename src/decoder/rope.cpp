// RoPE frequency tables, written after transformers' modeling_rope_utils.py so
// that the same config gives the same float32 numbers.
#include "e2llm/decoder/rope.h"

#include <cmath>
#include <numbers>

#include "e2llm/core/error.h"
#include "e2llm/nn/rope.h"

namespace e2llm {
namespace {

torch::Tensor llama3_inv_freq(const RopeConfig& r, int64_t dim) {
  torch::Tensor inv_freq = nn::rope_inverse_frequencies(r.theta, dim);
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
      return {nn::rope_inverse_frequencies(r.theta, head_dim), 1.0};
    case RopeType::Linear:
      return {nn::rope_inverse_frequencies(r.theta, head_dim) / r.factor, 1.0};
    case RopeType::Dynamic: {
      // NTK-aware: grow the base once the sequence outruns the trained context.
      double len = static_cast<double>(std::max(seq_len, max_positions));
      double dim = static_cast<double>(head_dim);
      double base = r.theta * std::pow(r.factor * len / static_cast<double>(max_positions) - (r.factor - 1),
                                       dim / (dim - 2));
      return {nn::rope_inverse_frequencies(base, head_dim), 1.0};
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
  auto [cos, sin] = nn::rope_cos_sin(f.inv_freq, positions, dtype, f.attention_scaling);  // [B, T, D]
  return {cos.unsqueeze(1), sin.unsqueeze(1)};
}

}  // namespace e2llm
