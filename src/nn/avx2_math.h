// AVX2 building blocks of the fused attention kernels (the encoder's,
// src/encoder/attention.cpp, and the decoder's, src/decoder/causal_attention.cpp):
// one copy of the exp and the horizontal reductions both softmaxes use, also
// used by the LoRA side path (nn/lora_side_path.cpp) and the float16 KV cache.
// Internal to the library; each function is compiled for AVX2 + FMA + F16C
// whatever the build's flags, so callers must check cpu_supported() first.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

// F16C comes with every AVX2 CPU (Intel since Ivy Bridge, AMD since
// Piledriver); it converts float16 keys and values as they are loaded.
#define E2LLM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace e2llm::avx2 {

// Whether this CPU runs the functions below.
inline bool cpu_supported() {
  static const bool yes =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return yes;
}

// Eight consecutive values as float32, from float32 or from float16 (a
// float16 KV cache: c10::Half's bits).
E2LLM_AVX2 inline __m256 load8(const float* x) { return _mm256_loadu_ps(x); }
E2LLM_AVX2 inline __m256 load8(const uint16_t* x) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
}

// exp for x <= 0 (Cephes expf: Cody-Waite reduction, degree-6 polynomial),
// exactly 0 below float's smallest normal result and for -inf, so masked keys
// weigh nothing.
E2LLM_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  const __m256 min_x = _mm256_set1_ps(-87.3365447504019f);
  const __m256 underflow = _mm256_cmp_ps(x, min_x, _CMP_LT_OQ);
  x = _mm256_max_ps(x, min_x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i two_n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(two_n)));
}

E2LLM_AVX2 inline float horizontal_max(__m256 x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

E2LLM_AVX2 inline float horizontal_sum(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The 8 horizontal sums of a[0..7], in order, in one vector.
E2LLM_AVX2 inline __m256 horizontal_sums(const __m256 a[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // lanes: a0..a3 | a0..a3 halves
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// The score micro-kernel: 6 query rows (q: [6][d]) against one block of 16
// keys packed transposed (kb: [d][16]), row r's scores in lo[r] (keys 0-7) and
// hi[r] (keys 8-15). 12 independent accumulators cover the FMA latency on both
// pipes (8 would just saturate them); the block's keys stay in L1.
constexpr int64_t kScoreRows = 6, kScoreKeys = 16;
E2LLM_AVX2 inline void scores_6x16(const float* q, int64_t d, const float* kb, __m256 lo[kScoreRows],
                                   __m256 hi[kScoreRows]) {
#pragma GCC unroll 6
  for (int r = 0; r < kScoreRows; ++r) lo[r] = _mm256_setzero_ps(), hi[r] = _mm256_setzero_ps();
  for (int64_t c = 0; c < d; ++c) {
    const __m256 k0 = _mm256_loadu_ps(kb + c * kScoreKeys), k1 = _mm256_loadu_ps(kb + c * kScoreKeys + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kScoreRows; ++r) {
      const __m256 b = _mm256_broadcast_ss(q + r * d + c);
      lo[r] = _mm256_fmadd_ps(b, k0, lo[r]);
      hi[r] = _mm256_fmadd_ps(b, k1, hi[r]);
    }
  }
}

// For 3 rows r: acc[r][0..8·NV) = alpha[r]·acc[r][..] + Σ_j p[r][j]·v[j][..]
// over `count` values (rows of p p_stride apart, of v v_stride, of acc
// acc_stride); no alpha: 1. 3·NV accumulators stay in registers throughout.
template <int NV, typename V>
E2LLM_AVX2 inline void accumulate_values(const float* p, int64_t p_stride, const float* alpha, const V* v,
                                         int64_t v_stride, int64_t count, float* acc, int64_t acc_stride) {
  __m256 a[3][NV];
#pragma GCC unroll 3
  for (int r = 0; r < 3; ++r) {
    const __m256 scale = _mm256_set1_ps(alpha ? alpha[r] : 1.0f);
#pragma GCC unroll 4
    for (int n = 0; n < NV; ++n) a[r][n] = _mm256_mul_ps(scale, _mm256_loadu_ps(acc + r * acc_stride + 8 * n));
  }
  for (int64_t j = 0; j < count; ++j) {
    const V* vj = v + j * v_stride;
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
      const __m256 w = _mm256_broadcast_ss(p + r * p_stride + j);
#pragma GCC unroll 4
      for (int n = 0; n < NV; ++n) a[r][n] = _mm256_fmadd_ps(w, load8(vj + 8 * n), a[r][n]);
    }
  }
#pragma GCC unroll 3
  for (int r = 0; r < 3; ++r)
#pragma GCC unroll 4
    for (int n = 0; n < NV; ++n) _mm256_storeu_ps(acc + r * acc_stride + 8 * n, a[r][n]);
}

// accumulate_values over a whole row of d values (d a multiple of 8), in
// slices of up to 32; v float32 or float16 (uint16_t).
template <typename V>
E2LLM_AVX2 inline void accumulate_rows(const float* p, int64_t p_stride, const float* alpha, const V* v,
                                       int64_t v_stride, int64_t d, int64_t count, float* acc, int64_t acc_stride) {
  for (int64_t c = 0; c < d; c += 32) {
    switch (std::min<int64_t>(d - c, 32) / 8) {
      case 4: accumulate_values<4>(p, p_stride, alpha, v + c, v_stride, count, acc + c, acc_stride); break;
      case 3: accumulate_values<3>(p, p_stride, alpha, v + c, v_stride, count, acc + c, acc_stride); break;
      case 2: accumulate_values<2>(p, p_stride, alpha, v + c, v_stride, count, acc + c, acc_stride); break;
      default: accumulate_values<1>(p, p_stride, alpha, v + c, v_stride, count, acc + c, acc_stride); break;
    }
  }
}

}  // namespace e2llm::avx2
