// Encoder attention: the ATen-ops reference (autograd, any device) and a fused
// CPU kernel for inference. The fused kernel takes one (chunk, head) per task;
// for every 12 query rows it computes their scores against all keys (K packed
// transposed in blocks of 16 keys, so a block is two vector loads per head
// dimension), the softmax, and the weighted sum of V, inside ~30 KB of
// scratch. Computed in float32 whatever the model dtype: CPUs without bf16
// dot products gain nothing from bf16 here, and the softmax wants float32.
#include "e2llm/encoder/attention.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "e2llm/core/error.h"
#include "nn/avx2_math.h"

namespace e2llm::nn {
namespace {

std::atomic<AttentionKernel> g_kernel{AttentionKernel::kAuto};

constexpr float kLowest = std::numeric_limits<float>::lowest();
constexpr int64_t kRows = 6;         // query rows per score block
constexpr int64_t kKeys = 16;        // keys per score block (two 8-float vectors)
constexpr int64_t kQueryBlock = 12;  // query rows sharing one pass over keys and values (kRows and 3 divide it)
constexpr int64_t kValueTile = 64;   // keys per tile of values

// One (chunk, head). Row pointers step by the *_stride floats from token to token.
struct Head {
  const float* q;
  const float* k;
  const float* v;
  float* out;
  int64_t q_stride, k_stride, v_stride, out_stride;
  const float* bias;  // [t] additive key bias, or nullptr
  int64_t t, d;
  float scale;
};

struct Scratch {
  std::vector<float> kt;      // [padded t / 16][d][16]: K transposed in blocks, zero past t
  std::vector<float> v;       // [t][d]: V contiguous
  std::vector<float> bias;    // [padded t]: key bias, lowest past t
  std::vector<float> scores;  // [kQueryBlock][padded t]
  std::vector<float> q;       // [kQueryBlock][d]: scaled query rows
  std::vector<float> acc;     // [kQueryBlock][d]: unnormalised outputs
};

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

void head_portable(const Head& h, Scratch& s) {
  s.scores.resize(static_cast<size_t>(h.t));
  float* row = s.scores.data();
  for (int64_t i = 0; i < h.t; ++i) {
    const float* qi = h.q + i * h.q_stride;
    float max = kLowest;
    for (int64_t j = 0; j < h.t; ++j) {
      const float* kj = h.k + j * h.k_stride;
      float dot = 0;
      for (int64_t c = 0; c < h.d; ++c) dot += qi[c] * kj[c];
      row[j] = dot * h.scale + (h.bias ? h.bias[j] : 0.0f);
      max = std::max(max, row[j]);
    }
    float sum = 0;
    for (int64_t j = 0; j < h.t; ++j) sum += row[j] = std::exp(row[j] - max);
    float* o = h.out + i * h.out_stride;
    std::fill(o, o + h.d, 0.0f);
    for (int64_t j = 0; j < h.t; ++j) {
      const float* vj = h.v + j * h.v_stride;
      for (int64_t c = 0; c < h.d; ++c) o[c] += row[j] * vj[c];
    }
    for (int64_t c = 0; c < h.d; ++c) o[c] /= sum;
  }
}

using avx2::exp_nonpositive;
using avx2::horizontal_max;
using avx2::horizontal_sum;

// Adds the key bias to 16 scores, stores them and folds them into the row maximum.
E2LLM_AVX2 inline void store_scores(__m256 lo, __m256 hi, __m256 bias_lo, __m256 bias_hi, float* out, __m256& max) {
  lo = _mm256_add_ps(lo, bias_lo), hi = _mm256_add_ps(hi, bias_hi);
  _mm256_storeu_ps(out, lo);
  _mm256_storeu_ps(out + 8, hi);
  max = _mm256_max_ps(max, _mm256_max_ps(lo, hi));
}

// Scores of kRows query rows (q: [kRows][d]) against one block of 16 keys (kb:
// [d][16]); row r goes to scores + r·stride. The block's keys stay in L1 for
// every row group.
E2LLM_AVX2 void score_block(const float* q, int64_t d, const float* kb, __m256 bias_lo, __m256 bias_hi,
                            float* scores, int64_t stride, __m256* max) {
  static_assert(kRows == avx2::kScoreRows && kKeys == avx2::kScoreKeys);
  __m256 lo[kRows], hi[kRows];
  avx2::scores_6x16(q, d, kb, lo, hi);
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) store_scores(lo[r], hi[r], bias_lo, bias_hi, scores + r * stride, max[r]);
}

// In place: row = exp(row - max); returns 1 / sum.
E2LLM_AVX2 float softmax_row(float* row, int64_t padded, float max) {
  const __m256 m = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < padded; j += 8) {
    const __m256 p = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(row + j), m));
    _mm256_storeu_ps(row + j, p);
    sum = _mm256_add_ps(sum, p);
  }
  return 1.0f / horizontal_sum(sum);
}

// Needs d % 8 == 0. Keys are packed in blocks of 16 ([block][d][16]) and
// values contiguously ([t][d]), so every inner loop reads memory in order.
// 12 query rows share each pass over the keys and each 64-key tile of values,
// which stays in L1 while all 12 rows consume it.
E2LLM_AVX2 void head_avx2(const Head& h, Scratch& s) {
  const int64_t t = h.t, d = h.d, padded = round_up(t, kKeys), blocks = padded / kKeys;
  s.kt.resize(static_cast<size_t>(blocks * d * kKeys));
  s.v.resize(static_cast<size_t>(t * d));
  s.bias.resize(static_cast<size_t>(padded));
  s.scores.resize(static_cast<size_t>(kQueryBlock * padded));
  s.q.resize(static_cast<size_t>(kQueryBlock * d));
  s.acc.resize(static_cast<size_t>(kQueryBlock * d));
  for (int64_t j = 0; j < padded; ++j) {
    const float* kj = h.k + j * h.k_stride;
    float* kb = s.kt.data() + (j / kKeys) * d * kKeys + j % kKeys;
    for (int64_t c = 0; c < d; ++c) kb[c * kKeys] = j < t ? kj[c] : 0.0f;
    s.bias[j] = j >= t ? kLowest : h.bias ? h.bias[j] : 0.0f;
  }
  for (int64_t j = 0; j < t; ++j) std::copy_n(h.v + j * h.v_stride, d, s.v.data() + j * d);
  float* scores = s.scores.data();
  float* acc = s.acc.data();
  for (int64_t i0 = 0; i0 < t; i0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, t - i0);
    for (int64_t r = 0; r < kQueryBlock; ++r)
      for (int64_t c = 0; c < d; ++c) s.q[r * d + c] = r < rows ? h.q[(i0 + r) * h.q_stride + c] * h.scale : 0.0f;
    __m256 max[kQueryBlock];
    for (auto& m : max) m = _mm256_set1_ps(kLowest);
    for (int64_t jb = 0; jb < blocks; ++jb) {
      const float* kb = s.kt.data() + jb * d * kKeys;
      const __m256 bias_lo = _mm256_loadu_ps(s.bias.data() + jb * kKeys);
      const __m256 bias_hi = _mm256_loadu_ps(s.bias.data() + jb * kKeys + 8);
      for (int64_t g = 0; g < kQueryBlock; g += kRows)
        score_block(s.q.data() + g * d, d, kb, bias_lo, bias_hi, scores + g * padded + jb * kKeys, padded, max + g);
    }
    float inv[kQueryBlock];
    for (int64_t r = 0; r < kQueryBlock; ++r) inv[r] = softmax_row(scores + r * padded, padded, horizontal_max(max[r]));
    std::fill(s.acc.begin(), s.acc.end(), 0.0f);
    for (int64_t j0 = 0; j0 < t; j0 += kValueTile) {
      const int64_t count = std::min(kValueTile, t - j0);
      for (int64_t r = 0; r < kQueryBlock; r += 3)
        avx2::accumulate_rows(scores + r * padded + j0, padded, /*alpha=*/nullptr, s.v.data() + j0 * d, d, d, count,
                              acc + r * d, d);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* o = h.out + (i0 + r) * h.out_stride;
      for (int64_t c = 0; c < d; ++c) o[c] = acc[r * d + c] * inv[r];
    }
  }
}

torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& key_bias, double scale) {
  const int64_t batch = q.size(0), length = q.size(1), heads = q.size(2), head_dim = q.size(3);
  torch::Tensor qh = q.transpose(1, 2);        // [B, h, T, d]
  torch::Tensor kt = k.permute({0, 2, 3, 1});  // [B, h, d, T]
  torch::Tensor vh = v.transpose(1, 2);        // [B, h, T, d]
  torch::Tensor scores = torch::matmul(qh, kt).mul_(scale);
  if (key_bias.defined()) scores.add_(key_bias.reshape({batch, 1, 1, length}).to(scores.scalar_type()));
  torch::Tensor probs = torch::softmax(scores, -1);
  return torch::matmul(probs, vh).transpose(1, 2).reshape({batch, length, heads * head_dim});
}

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& key_bias, double scale, bool avx2) {
  const int64_t batch = q.size(0), length = q.size(1), heads = q.size(2), head_dim = q.size(3);
  auto as_float = [](const torch::Tensor& x) {
    torch::Tensor y = x.to(torch::kFloat32);
    return y.stride(3) == 1 ? y : y.contiguous();
  };
  const torch::Tensor qf = as_float(q), kf = as_float(k), vf = as_float(v);
  const torch::Tensor bias =
      key_bias.defined() ? key_bias.to(torch::kFloat32).reshape({batch, length}).contiguous() : torch::Tensor();
  torch::Tensor out = torch::empty({batch, length, heads * head_dim}, qf.options());
  const float* q_data = qf.data_ptr<float>();
  const float* k_data = kf.data_ptr<float>();
  const float* v_data = vf.data_ptr<float>();
  const float* bias_data = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* out_data = out.data_ptr<float>();
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    thread_local Scratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / heads, head = task % heads;
      const Head h{q_data + b * qf.stride(0) + head * qf.stride(2),
                   k_data + b * kf.stride(0) + head * kf.stride(2),
                   v_data + b * vf.stride(0) + head * vf.stride(2),
                   out_data + (b * length) * heads * head_dim + head * head_dim,
                   qf.stride(1),
                   kf.stride(1),
                   vf.stride(1),
                   heads * head_dim,
                   bias_data ? bias_data + b * length : nullptr,
                   length,
                   head_dim,
                   static_cast<float>(scale)};
      if (avx2) {
        head_avx2(h, scratch);
      } else {
        head_portable(h, scratch);
      }
    }
  });
  return out.to(q.scalar_type());
}

}  // namespace

void set_attention_kernel(AttentionKernel kernel) { g_kernel.store(kernel); }
AttentionKernel attention_kernel() { return g_kernel.load(); }

torch::Tensor encoder_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& key_bias, double scale) {
  E2LLM_CHECK(q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
              "attention: q, k, v must all be [B, T, heads, d], got [{}], [{}], [{}]",
              fmt::join(q.sizes(), ", "), fmt::join(k.sizes(), ", "), fmt::join(v.sizes(), ", "));
  E2LLM_CHECK(!key_bias.defined() || key_bias.numel() == q.size(0) * q.size(1),
              "attention: key bias of {} elements for {} chunks of {} tokens", key_bias.numel(), q.size(0),
              q.size(1));
  const AttentionKernel kernel = g_kernel.load();
  const bool needs_graph = torch::GradMode::is_enabled() &&
                           (q.requires_grad() || k.requires_grad() || v.requires_grad() ||
                            (key_bias.defined() && key_bias.requires_grad()));
  if (kernel == AttentionKernel::kReference || needs_graph || !q.device().is_cpu() || q.numel() == 0)
    return reference_attention(q, k, v, key_bias, scale);
  const bool avx2 = kernel != AttentionKernel::kPortable && avx2::cpu_supported() && q.size(3) % 8 == 0;
  return fused_attention(q, k, v, key_bias, scale, avx2);
}

}  // namespace e2llm::nn
