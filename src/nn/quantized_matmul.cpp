// Quantized matrix products (see e2llm/nn/quantized_matmul.h).
//
// Decoding path, per call y[t, r] = Σ_i x[t, i] · W[r, i]:
//  1. each activation row is quantized in blocks of 32: x ≈ dx · xq, xq int16
//     (int8 as llama.cpp uses flips SmolLM2's top-1 token vs float32 at ~3%
//     of positions; int16 makes the rounding negligible at the same speed,
//     since decoding waits on memory, not on these multiplies);
//  2. the weight codes become int16, by block type and path:
//     - Q4_0/Q4_1 on AVX-512: four rows at once, from the nibble words
//       (see "four rows at a time" below), activations reordered to match;
//     - other 32-value blocks (Q5_0, Q5_1, Q8_0; AVX2): one block at a time
//       in registers (AVX2, one token: the scales of eight blocks at once);
//     - k-quants on AVX2 for one token: a 256-value block in registers, its
//       sub-block scales as vectors;
//     - other k-quant cases, and every type on the portable path: unpacked
//       256 values at a time (quantized_blocks.h) into byte codes with a
//       scale s and an offset c per group of 16 values;
//  3. per block or group, Σ W·x = dx · (s · Σ code·xq + c · Σ xq): the first
//     sum is an integer dot product, the second uses the sums of xq
//     computed once in step 1.
// Rows are split across threads; weights are decoded once for all the call's
// tokens, so a batch of sequences reads the weights once.
#include "e2llm/nn/quantized_matmul.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "e2llm/core/error.h"
#include "core/tensor_cast.h"
#include "e2llm/io/gguf.h"
#include "nn/quantized_blocks.h"

// GCC 12 flags the undefined pass-through operand inside its own AVX-512
// intrinsics (_mm512_cvtepi32_ps, _mm512_permutexvar_ps, ...) as
// maybe-uninitialized once they are inlined: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, in _mm512_reduce_max_ps
// The vector accumulators pass through internal (anonymous-namespace)
// functions only, all inlined into one path's target function: no ABI to keep.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace e2llm::nn {
namespace {

using quant::Chunk;
using quant::kChunk;
using quant::kGroup;
using quant::kGroups;

// ---- activations ------------------------------------------------------------------

// n rows of k values (k a multiple of 32) as int16 with a scale per 32 values.
struct Activations {
  int64_t n = 0, k = 0;
  std::vector<int16_t> q;      // [n][k]
  std::vector<float> scale;    // [n][k/16]: dx of each group of 16 (repeated for the two halves of a block)
  std::vector<float> sum;      // [n][k/16]: dx · Σ xq over the group
  std::vector<float> block_scale, block_sum;  // [n][k/32]: dx, and dx · Σ xq over the block
};

// One block of 32 values: the scale d = amax / 32767, the codes, the sums of
// each half. Plain C++ here, AVX-512 and AVX2 below: the same float operations
// and round-to-nearest-even conversion, so all give the same codes.
void quantize_block(const float* xb, int16_t* qb, float& d, int sums[2]) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
  d = amax / 32767.0f;
  const float inv = d > 0 ? 1.0f / d : 0.0f;
  sums[0] = sums[1] = 0;
  for (int i = 0; i < 32; ++i) {
    qb[i] = static_cast<int16_t>(std::nearbyint(xb[i] * inv));
    sums[i / 16] += qb[i];
  }
}

#define E2LLM_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define E2LLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

E2LLM_TARGET_AVX512 void quantize_block_avx512(const float* xb, int16_t* qb, float& d, int sums[2]) {
  const __m512 lo = _mm512_loadu_ps(xb), hi = _mm512_loadu_ps(xb + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
  d = amax / 32767.0f;
  const __m512 inv = _mm512_set1_ps(d > 0 ? 1.0f / d : 0.0f);
  const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inv)), qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inv));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), _mm512_cvtepi32_epi16(qlo));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + 16), _mm512_cvtepi32_epi16(qhi));
  sums[0] = _mm512_reduce_add_epi32(qlo);
  sums[1] = _mm512_reduce_add_epi32(qhi);
}

// The sum of the eight int32 lanes.
E2LLM_TARGET_AVX2 inline int lane_total(__m256i a) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

E2LLM_TARGET_AVX2 void quantize_block_avx2(const float* xb, int16_t* qb, float& d, int sums[2]) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4], amax8 = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(xb + 8 * i);
    amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign, v[i]));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  d = _mm_cvtss_f32(m) / 32767.0f;
  const __m256 inv = _mm256_set1_ps(d > 0 ? 1.0f / d : 0.0f);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], inv));  // round to nearest even
  // packs interleaves 128-bit lanes; the permute puts values back in order.
  const __m256i lo = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);
  const __m256i hi = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xD8);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + 16), hi);
  sums[0] = lane_total(_mm256_add_epi32(q[0], q[1]));
  sums[1] = lane_total(_mm256_add_epi32(q[2], q[3]));
}

// n rows of k values (k a multiple of 32) as int16 with a scale per 32 values.
Activations quantize_activations(const float* x, int64_t n, int64_t k, QuantKernel kernel) {
  Activations a;
  a.n = n, a.k = k;
  a.q.resize(static_cast<size_t>(n * k));
  a.scale.resize(static_cast<size_t>(n * k / kGroup));
  a.sum.resize(a.scale.size());
  a.block_scale.resize(static_cast<size_t>(n * k / 32));
  a.block_sum.resize(a.block_scale.size());
  for (int64_t block = 0; block < n * k / 32; ++block) {
    float d;
    int sums[2];
    int16_t* qb = a.q.data() + 32 * block;
    const float* xb = x + 32 * block;
    switch (kernel) {
      case QuantKernel::kAvx512: quantize_block_avx512(xb, qb, d, sums); break;
      case QuantKernel::kAvx2: quantize_block_avx2(xb, qb, d, sums); break;
      default: quantize_block(xb, qb, d, sums); break;
    }
    const size_t g = static_cast<size_t>(2 * block);
    a.scale[g] = a.scale[g + 1] = d;
    a.sum[g] = d * static_cast<float>(sums[0]);
    a.sum[g + 1] = d * static_cast<float>(sums[1]);
    a.block_scale[static_cast<size_t>(block)] = d;
    a.block_sum[static_cast<size_t>(block)] = d * static_cast<float>(sums[0] + sums[1]);
  }
  return a;
}

// ---- dot products of one chunk, accumulated per token ---------------------------------
// add() accumulates Σ_g dx_g · (scale_g · Σ_{i in g} code_i · xq_i + offset_g · Σ_{i in g} xq_i)
// over `groups` groups of 16 into acc; total() sums acc once per row. A
// group's integer sum fits int32: 16 · 255 · 32767 < 2^31.

template <bool kSigned>
struct DotPortable {
  using Half = quant::PortableHalf;
  using Acc = float;
  static Acc zero() { return 0.0f; }
  static float total(Acc acc) { return acc; }
  static E2LLM_ALWAYS_INLINE void add(Acc& acc, const uint8_t* codes, const int16_t* xq, const quant::Chunk& c,
                                      const float* dx, const float* xsum, int groups) {
    for (int g = 0; g < groups; ++g) {
      int32_t s = 0;
      for (int i = 0; i < kGroup; ++i) {
        const int32_t w = kSigned ? static_cast<int8_t>(codes[kGroup * g + i]) : codes[kGroup * g + i];
        s += w * xq[kGroup * g + i];
      }
      acc += c.scale[g] * dx[g] * static_cast<float>(s) + c.offset[g] * xsum[g];
    }
  }
};


struct F16cHalf {
  static E2LLM_TARGET_AVX2 inline float to_float(uint16_t bits) { return _cvtsh_ss(bits); }
};

// One group (16 values) per step: codes widened to int16, vpmaddwd gives 8
// lanes of two products each, all of group g.
template <bool kSigned>
struct DotAvx2 {
  using Half = F16cHalf;
  using Acc = __m256;
  static E2LLM_TARGET_AVX2 inline Acc zero() { return _mm256_setzero_ps(); }
  static E2LLM_TARGET_AVX2 inline float total(Acc x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static E2LLM_TARGET_AVX2 inline void add(Acc& acc, const uint8_t* codes, const int16_t* xq, const quant::Chunk& c,
                                           const float* dx, const float* xsum, int groups) {
    for (int g = 0; g < groups; ++g) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + kGroup * g));
      const __m256i w = kSigned ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + kGroup * g));
      const __m256i p = _mm256_madd_epi16(w, x);
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(c.scale[g] * dx[g]), acc);
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int g = 0; g < groups; g += 8) {  // the offsets, 8 groups at a time
      const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(groups - g), lane);
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(c.offset + g, live), _mm256_maskload_ps(xsum + g, live), acc);
    }
  }
};

// Two groups (32 values) per step in 512-bit registers: lanes 0–7 are group
// g, 8–15 group g+1 (groups is always even: rows are whole 32-value blocks).
template <bool kSigned>
struct DotAvx512 {
  using Half = F16cHalf;
  using Acc = __m512;
  static E2LLM_TARGET_AVX512 inline Acc zero() { return _mm512_setzero_ps(); }
  static E2LLM_TARGET_AVX512 inline float total(Acc x) { return _mm512_reduce_add_ps(x); }
  static E2LLM_TARGET_AVX512 inline void add(Acc& acc, const uint8_t* codes, const int16_t* xq,
                                             const quant::Chunk& c, const float* dx, const float* xsum, int groups) {
    const __m512i lane_group = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __mmask16 live = static_cast<__mmask16>((1u << groups) - 1);
    const __m512 sd = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, c.scale), _mm512_maskz_loadu_ps(live, dx));
    alignas(64) float sd_array[kGroups];
    _mm512_store_ps(sd_array, sd);
    for (int g = 0; g < groups; g += 2) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + kGroup * g));
      const __m512i w = kSigned ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b);
      const __m512i x = _mm512_loadu_si512(xq + kGroup * g);
      const __m512i p = _mm512_madd_epi16(w, x);
      const __m512 s = _mm512_permutexvar_ps(
          lane_group, _mm512_castps128_ps512(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(sd_array + g)))));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc);
    }
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(live, c.offset), _mm512_maskz_loadu_ps(live, xsum), acc);
  }
};

// ---- 32-value block types read in registers ------------------------------------------
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 blocks are decoded straight into a vector
// of 32 int16 codes, multiplied with the activations and accumulated, with no
// trip through the Chunk buffer (which cost as much as the products). Each
// decoder gives the codes, the block's scale d and its offset c per value
// (value = d · code + c); the offset term c · Σ x is one scalar per block.

struct Block32 {
  float d, c;
};

template <class Half>
E2LLM_ALWAYS_INLINE Block32 q4_0_scales(const uint8_t* b) {
  const float d = quant::half_at<Half>(b);
  return {d, -8.0f * d};
}
template <class Half>
E2LLM_ALWAYS_INLINE Block32 two_halves(const uint8_t* b) {
  return {quant::half_at<Half>(b), quant::half_at<Half>(b + 2)};
}
template <class Half>
E2LLM_ALWAYS_INLINE Block32 q5_0_scales(const uint8_t* b) {
  const float d = quant::half_at<Half>(b);
  return {d, -16.0f * d};
}

// The 16 nibble bytes of a block as 32 bytes: values 0..15 (low nibbles), then 16..31.
E2LLM_TARGET_AVX2 inline __m256i nibble_bytes(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(q, mask)),
                                 _mm_and_si128(_mm_srli_epi16(q, 4), mask), 1);
}

// AVX-512: one zmm of 32 int16 codes per block.
struct Avx512Block {
  using Codes = __m512i;
  static E2LLM_TARGET_AVX512 inline __m512i widen(__m256i bytes) { return _mm512_cvtepu8_epi16(bytes); }
  // Adds 16 to the values whose bit is set in the 32-bit mask (Q5's fifth bits).
  static E2LLM_TARGET_AVX512 inline __m512i fifth_bits(__m512i w, const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return _mm512_mask_add_epi16(w, _cvtu32_mask32(bits), w, _mm512_set1_epi16(16));
  }
  template <class Half>
  static E2LLM_TARGET_AVX512 inline Block32 decode(GgmlType type, const uint8_t* b, __m512i& w) {
    switch (type) {
      case GgmlType::Q4_0: w = widen(nibble_bytes(b + 2)); return q4_0_scales<Half>(b);
      case GgmlType::Q4_1: w = widen(nibble_bytes(b + 4)); return two_halves<Half>(b);
      case GgmlType::Q5_0: w = fifth_bits(widen(nibble_bytes(b + 6)), b + 2); return q5_0_scales<Half>(b);
      case GgmlType::Q5_1: w = fifth_bits(widen(nibble_bytes(b + 8)), b + 4); return two_halves<Half>(b);
      default:  // Q8_0
        w = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)));
        return {quant::half_at<Half>(b), 0.0f};
    }
  }
  using Acc = __m512;
  static E2LLM_TARGET_AVX512 inline Acc zero() { return _mm512_setzero_ps(); }
  static E2LLM_TARGET_AVX512 inline float total(Acc x) { return _mm512_reduce_add_ps(x); }
  static E2LLM_TARGET_AVX512 inline Acc sum(Acc a, Acc b) { return _mm512_add_ps(a, b); }
  static E2LLM_TARGET_AVX512 inline void add(Acc& acc, __m512i w, const int16_t* xq, float scale) {
    const __m512i p = _mm512_madd_epi16(w, _mm512_loadu_si512(xq));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(scale), acc);
  }
};

// AVX2: two ymm of 16 int16 codes (values 0..15 and 16..31) per block.
struct Avx2Block {
  struct Codes {
    __m256i lo, hi;
  };
  // Q5_0/Q5_1: the 32 nibble bytes plus 16 where bit j of qh is set, then
  // widened (the bits spread one per byte: fewer instructions than per int16 lane).
  static E2LLM_TARGET_AVX2 inline Codes five_bit_codes(const uint8_t* qs, const uint8_t* qh) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    // Byte j takes byte j / 8 of the bits (each 128-bit lane holds all four), then its bit j % 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    const __m256i sixteen = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
    const __m256i bytes = _mm256_add_epi8(nibble_bytes(qs), sixteen);
    return {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1))};
  }
  // A block's 16 nibble bytes as codes: low nibbles are values 0..15, high ones 16..31.
  // Widened once, then split: one lane-crossing vpmovzxbw per block, not two.
  static E2LLM_TARGET_AVX2 inline Codes nibbles(const uint8_t* qs) {
    const __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return {_mm256_and_si256(bytes, _mm256_set1_epi16(0x0F)), _mm256_srli_epi16(bytes, 4)};
  }
  template <class Half>
  static E2LLM_TARGET_AVX2 inline Block32 decode(GgmlType type, const uint8_t* b, Codes& w) {
    switch (type) {
      case GgmlType::Q4_0: w = nibbles(b + 2); return q4_0_scales<Half>(b);
      case GgmlType::Q4_1: w = nibbles(b + 4); return two_halves<Half>(b);
      case GgmlType::Q5_0: w = five_bit_codes(b + 6, b + 2); return q5_0_scales<Half>(b);
      case GgmlType::Q5_1: w = five_bit_codes(b + 8, b + 4); return two_halves<Half>(b);
      default:  // Q8_0
        w = {_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2))),
             _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18)))};
        return {quant::half_at<Half>(b), 0.0f};
    }
  }
  using Acc = __m256;
  static E2LLM_TARGET_AVX2 inline Acc zero() { return _mm256_setzero_ps(); }
  static E2LLM_TARGET_AVX2 inline float total(Acc x) { return DotAvx2<false>::total(x); }
  static E2LLM_TARGET_AVX2 inline Acc sum(Acc a, Acc b) { return _mm256_add_ps(a, b); }
  // `scale` in every lane (the eight-block loop passes one block's lane of its scales).
  static E2LLM_TARGET_AVX2 inline void add(Acc& acc, const Codes& w, const int16_t* xq, __m256 scale) {
    const __m256i p = _mm256_add_epi32(
        _mm256_madd_epi16(w.lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq))),
        _mm256_madd_epi16(w.hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 16))));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc);
  }
  static E2LLM_TARGET_AVX2 inline void add(Acc& acc, const Codes& w, const int16_t* xq, float scale) {
    add(acc, w, xq, _mm256_set1_ps(scale));
  }
};

// ---- rows --------------------------------------------------------------------------

struct Job {
  const QuantizedTensor* w;
  const Activations* x;
  float* y;                              // [n][rows]
  const int16_t* reordered_xq = nullptr;  // x->q in nibble_order (AVX-512 Q4_0/Q4_1 only)
};

// Row r of W where the file stores it (a Llama GGUF permutes q/k rows), as
// QuantizedTensor::row, with the row size computed once per call by the caller.
E2LLM_ALWAYS_INLINE const uint8_t* stored_row(const QuantizedTensor& w, int64_t r, size_t row_bytes) {
  const int64_t stored = w.row_order.empty() ? r : w.row_order[static_cast<size_t>(r)];
  return w.data + static_cast<size_t>(stored) * row_bytes;
}

using UnpackFn = void (*)(const uint8_t*, int, Chunk&);

// Rows [r0, r1) of y for every token. `block` values per weight block,
// `block_bytes` bytes each; a chunk is min(256, cols left) values.
template <class Dot, UnpackFn Unpack>
E2LLM_ALWAYS_INLINE void rows_kernel(const Job& job, int64_t r0, int64_t r1, int block, int block_bytes) {
  const int64_t k = job.w->cols, n = job.x->n, rows = job.w->rows;
  const int64_t groups_per_row = k / kGroup;
  const size_t row_bytes = static_cast<size_t>(k / block * block_bytes);
  Chunk chunk;
  typename Dot::Acc acc[kQuantizedTiledFromTokens - 1];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    for (int64_t t = 0; t < n; ++t) acc[t] = Dot::zero();
    for (int64_t e = 0; e < k; e += kChunk) {
      const int len = static_cast<int>(std::min<int64_t>(kChunk, k - e));
      Unpack(src + (e / block) * block_bytes, len / block, chunk);
      for (int64_t t = 0; t < n; ++t) {
        const size_t g0 = static_cast<size_t>(t * groups_per_row + e / kGroup);
        Dot::add(acc[t], chunk.codes, job.x->q.data() + t * k + e, chunk, job.x->scale.data() + g0,
                 job.x->sum.data() + g0, len / kGroup);
      }
    }
    for (int64_t t = 0; t < n; ++t) job.y[t * rows + r] = Dot::total(acc[t]);
  }
}

// Rows [r0, r1) of a 32-value block type for every token, blocks decoded in registers.
template <class Path, GgmlType kType>
E2LLM_ALWAYS_INLINE void block32_rows(const Job& job, int64_t r0, int64_t r1) {
  const int64_t k = job.w->cols, n = job.x->n, rows = job.w->rows, blocks = k / 32;
  const size_t block_bytes = ggml_type_traits(kType).type_size;
  const size_t row_bytes = static_cast<size_t>(blocks) * block_bytes;
  const int16_t* xq = job.x->q.data();
  const float* dx = job.x->scale.data();  // per group of 16: the block's dx twice
  const float* xsum = job.x->sum.data();
  typename Path::Acc acc[kQuantizedTiledFromTokens - 1];
  float offsets[kQuantizedTiledFromTokens - 1];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    for (int64_t t = 0; t < n; ++t) acc[t] = Path::zero(), offsets[t] = 0.0f;
    for (int64_t b = 0; b < blocks; ++b, src += block_bytes) {
      typename Path::Codes w;
      const Block32 s = Path::template decode<F16cHalf>(kType, src, w);
      for (int64_t t = 0; t < n; ++t) {
        const int64_t g = t * (k / kGroup) + 2 * b;
        Path::add(acc[t], w, xq + t * k + 32 * b, s.d * dx[g]);
        offsets[t] += s.c * (xsum[g] + xsum[g + 1]);
      }
    }
    for (int64_t t = 0; t < n; ++t) job.y[t * rows + r] = Path::total(acc[t]) + offsets[t];
  }
}

template <template <bool> class Dot>
E2LLM_ALWAYS_INLINE void rows_for_type(const Job& job, int64_t r0, int64_t r1) {
  using H = typename Dot<false>::Half;
  switch (job.w->type) {
    case GgmlType::Q4_0: return rows_kernel<Dot<false>, quant::unpack_q4_0<H>>(job, r0, r1, 32, 18);
    case GgmlType::Q4_1: return rows_kernel<Dot<false>, quant::unpack_q4_1<H>>(job, r0, r1, 32, 20);
    case GgmlType::Q5_0: return rows_kernel<Dot<false>, quant::unpack_q5_0<H>>(job, r0, r1, 32, 22);
    case GgmlType::Q5_1: return rows_kernel<Dot<false>, quant::unpack_q5_1<H>>(job, r0, r1, 32, 24);
    case GgmlType::Q8_0: return rows_kernel<Dot<true>, quant::unpack_q8_0<H>>(job, r0, r1, 32, 34);
    case GgmlType::Q4_K: return rows_kernel<Dot<false>, quant::unpack_q4_k<H>>(job, r0, r1, 256, 144);
    case GgmlType::Q5_K: return rows_kernel<Dot<false>, quant::unpack_q5_k<H>>(job, r0, r1, 256, 176);
    case GgmlType::Q6_K: return rows_kernel<Dot<false>, quant::unpack_q6_k<H>>(job, r0, r1, 256, 210);
    default: break;
  }
}

// One token (plain decoding), the common case: two accumulators in registers,
// two blocks per step, so consecutive blocks do not wait on each other's sums.
template <class Path, GgmlType kType>
E2LLM_ALWAYS_INLINE void block32_rows_one_token(const Job& job, int64_t r0, int64_t r1) {
  const int64_t k = job.w->cols, blocks = k / 32;
  const size_t block_bytes = ggml_type_traits(kType).type_size;
  const size_t row_bytes = static_cast<size_t>(blocks) * block_bytes;
  const int16_t* xq = job.x->q.data();
  const float* dx = job.x->scale.data();
  const float* xsum = job.x->sum.data();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    typename Path::Acc acc0 = Path::zero(), acc1 = Path::zero();
    float offset = 0.0f;
    int64_t b = 0;
    for (; b + 1 < blocks; b += 2, src += 2 * block_bytes) {
      typename Path::Codes w0, w1;
      const Block32 s0 = Path::template decode<F16cHalf>(kType, src, w0);
      const Block32 s1 = Path::template decode<F16cHalf>(kType, src + block_bytes, w1);
      Path::add(acc0, w0, xq + 32 * b, s0.d * dx[2 * b]);
      Path::add(acc1, w1, xq + 32 * b + 32, s1.d * dx[2 * b + 2]);
      offset += s0.c * (xsum[2 * b] + xsum[2 * b + 1]) + s1.c * (xsum[2 * b + 2] + xsum[2 * b + 3]);
    }
    if (b < blocks) {
      typename Path::Codes w0;
      const Block32 s0 = Path::template decode<F16cHalf>(kType, src, w0);
      Path::add(acc0, w0, xq + 32 * b, s0.d * dx[2 * b]);
      offset += s0.c * (xsum[2 * b] + xsum[2 * b + 1]);
    }
    job.y[r] = Path::total(Path::sum(acc0, acc1)) + offset;
  }
}

// ---- one token on AVX2: the scales of eight blocks at once ---------------------------
// The float16 at byte `at` of 8 consecutive blocks.
E2LLM_TARGET_AVX2 inline __m128i eight_halves(const uint8_t* src, size_t block_bytes, size_t at) {
  auto h = [&](int i) {
    uint16_t v;
    std::memcpy(&v, src + static_cast<size_t>(i) * block_bytes + at, 2);
    return static_cast<short>(v);
  };
  return _mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7));
}

template <GgmlType kType>
E2LLM_TARGET_AVX2 inline void eight_block_scales(const uint8_t* src, size_t block_bytes, __m256& d, __m256& c) {
  d = _mm256_cvtph_ps(eight_halves(src, block_bytes, 0));
  if constexpr (kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1)
    c = _mm256_cvtph_ps(eight_halves(src, block_bytes, 2));
  else if constexpr (kType == GgmlType::Q4_0)
    c = _mm256_mul_ps(d, _mm256_set1_ps(-8.0f));
  else if constexpr (kType == GgmlType::Q5_0)
    c = _mm256_mul_ps(d, _mm256_set1_ps(-16.0f));
  else
    c = _mm256_setzero_ps();  // Q8_0: signed codes, no offset
}

// Lane j of v in every lane.
E2LLM_TARGET_AVX2 inline __m256 lane_of(__m256 v, int j) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j)); }

// One block's products with the activations x, times lane j of `scale`, into acc.
template <GgmlType kType>
E2LLM_TARGET_AVX2 inline void block_times_lane(const uint8_t* block, const int16_t* x, __m256 scale, int j,
                                               __m256& acc) {
  Avx2Block::Codes w;
  Avx2Block::decode<F16cHalf>(kType, block, w);  // its scalar scales go unused
  Avx2Block::add(acc, w, x, lane_of(scale, j));
}

// One token on AVX2, eight blocks at a time. Per block, block32_rows_one_token spends
// about as many instructions on the block's float16 scales as on its 32
// products: two scalar conversions, the products with dx, the offset term and
// a broadcast. Here the d (and m) of eight blocks are gathered into one vector
// and converted by one vcvtph2ps, multiplied by the eight dx at once, the
// offset terms summed in one fused multiply-add; a block then only takes its
// lane of the scales. Each row asks for the row kPrefetchRows ahead: rows are
// short (360 bytes at 576 columns of Q4_1) and a Llama file's q/k rows are read
// in a permuted order, so the hardware prefetcher lags (docs/decoder.md: +14%
// for SmolLM2's products; 8 rows ahead was no better). (The other block types
// and paths keep block32_rows_one_token.)
constexpr int64_t kPrefetchRows = 4;
template <GgmlType kType>
E2LLM_TARGET_AVX2 inline void block32_rows_one_token_avx2(const Job& job, int64_t r0, int64_t r1) {
  const int64_t k = job.w->cols, blocks = k / 32, whole = blocks / 8 * 8;
  const size_t block_bytes = ggml_type_traits(kType).type_size;
  const size_t row_bytes = static_cast<size_t>(blocks) * block_bytes;
  const int16_t* xq = job.x->q.data();
  const float* dx = job.x->block_scale.data();
  const float* xsum = job.x->block_sum.data();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    if (r + kPrefetchRows < r1) {
      const uint8_t* ahead = stored_row(*job.w, r + kPrefetchRows, row_bytes);
      for (size_t at = 0; at < row_bytes; at += 64) _mm_prefetch(reinterpret_cast<const char*>(ahead + at), _MM_HINT_T0);
    }
    // The offset terms of the blocks sum in the lanes of acc[1] (the total adds every lane).
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t b = 0;
    for (; b < whole; b += 8, src += 8 * block_bytes) {
      __m256 d, c;
      eight_block_scales<kType>(src, block_bytes, d, c);
      const __m256 scale = _mm256_mul_ps(d, _mm256_loadu_ps(dx + b));
      acc[1] = _mm256_fmadd_ps(c, _mm256_loadu_ps(xsum + b), acc[1]);
      for (int j = 0; j < 8; ++j)
        block_times_lane<kType>(src + j * block_bytes, xq + 32 * (b + j), scale, j, acc[j % 2]);
    }
    float offset = 0.0f;
    for (; b < blocks; ++b, src += block_bytes) {  // the last 1-7 blocks of the row, one at a time
      Avx2Block::Codes w;
      const Block32 s = Avx2Block::decode<F16cHalf>(kType, src, w);
      Avx2Block::add(acc[0], w, xq + 32 * b, s.d * dx[b]);
      offset += s.c * xsum[b];
    }
    job.y[r] = Avx2Block::total(Avx2Block::sum(acc[0], acc[1])) + offset;
  }
}

// Rows [r0, r1) of a 32-value block type: the one-token loop when decoding a
// single sequence, else the one for any token count.
template <class Path, GgmlType kType>
E2LLM_ALWAYS_INLINE void block32_rows_any(const Job& job, int64_t r0, int64_t r1) {
  if constexpr (std::is_same_v<Path, Avx2Block>)
    if (job.x->n == 1) return block32_rows_one_token_avx2<kType>(job, r0, r1);
  if (job.x->n == 1) return block32_rows_one_token<Path, kType>(job, r0, r1);
  block32_rows<Path, kType>(job, r0, r1);
}

// ---- k-quants, one token on AVX2 ----------------------------------------------------
// A 256-value block decoded in registers, as the 32-value types are, instead of
// through the Chunk buffer (whose stores and reloads cost as much as the
// products: Gemma 3's 13 MB of Q4_K took as long per token as 50 MB of Q8_0).
// The block's sub-block scales become one or two vectors, multiplied by d and
// by the activations' dx at once; each sub-block then takes its lane.

// The bytes of two words (little-endian) as eight floats.
E2LLM_TARGET_AVX2 inline __m256 eight_bytes_as_floats(uint32_t first4, uint32_t last4) {
  const __m128i bytes = _mm_setr_epi32(static_cast<int>(first4), static_cast<int>(last4), 0, 0);
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K block (12 bytes), as
// quant::k_scales_mins unpacks them, four bytes at a time.
E2LLM_TARGET_AVX2 inline void k_scales_mins8(const uint8_t* s, __m256& scales, __m256& mins) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t scales_high = (u[2] & 0x0F0F0F0Fu) | ((u[0] >> 2) & 0x30303030u);
  const uint32_t mins_high = ((u[2] >> 4) & 0x0F0F0F0Fu) | ((u[1] >> 2) & 0x30303030u);
  scales = eight_bytes_as_floats(u[0] & 0x3F3F3F3Fu, scales_high);
  mins = eight_bytes_as_floats(u[1] & 0x3F3F3F3Fu, mins_high);
}

// 32 byte codes as two vectors of 16 int16 codes.
E2LLM_TARGET_AVX2 inline Avx2Block::Codes widen32(__m256i bytes) {
  return {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes)),
          _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1))};
}

// 16 where bit `bit` of a qh byte is set, else 0 (Q5_K's fifth bits of one sub-block).
E2LLM_TARGET_AVX2 inline __m256i fifth_bit_bytes(__m256i qh, int bit) {
  const __m256i mask = _mm256_set1_epi8(static_cast<char>(1 << bit));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mask), mask), _mm256_set1_epi8(16));
}

// Q4_K/Q5_K: the codes of sub-blocks 2p (low nibbles) and 2p + 1 (high ones),
// which share 32 bytes of qs; Q5_K adds 16 where its bit in qh is set.
template <bool kFive>
E2LLM_TARGET_AVX2 inline void k4_pair_codes(const uint8_t* qs, __m256i qh, int p, Avx2Block::Codes& even,
                                            Avx2Block::Codes& odd) {
  if constexpr (kFive) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p));
    even = widen32(_mm256_add_epi8(_mm256_and_si256(q, low4), fifth_bit_bytes(qh, 2 * p)));
    odd = widen32(_mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), fifth_bit_bytes(qh, 2 * p + 1)));
  } else {  // each 16 bytes widened once, then split (Avx2Block::nibbles): half the vpmovzxbw
    const Avx2Block::Codes first = Avx2Block::nibbles(qs + 32 * p), last = Avx2Block::nibbles(qs + 32 * p + 16);
    even = {first.lo, last.lo};
    odd = {first.hi, last.hi};
  }
}

// Q4_K and Q5_K: value = d · scale_g · code − dmin · min_g in sub-block g of 32.
template <GgmlType kType>
E2LLM_TARGET_AVX2 inline void k4_rows_one_token_avx2(const Job& job, int64_t r0, int64_t r1) {
  constexpr bool kFive = kType == GgmlType::Q5_K;
  const size_t block_bytes = ggml_type_traits(kType).type_size;
  const int64_t blocks = job.w->cols / 256;
  const size_t row_bytes = static_cast<size_t>(blocks) * block_bytes;
  const int16_t* xq = job.x->q.data();
  const float* dx = job.x->block_scale.data();  // per 32 values, as the sub-blocks
  const float* xsum = job.x->block_sum.data();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < blocks; ++b, src += block_bytes) {
      __m256 scales, mins;
      k_scales_mins8(src + 4, scales, mins);
      const __m256 scale = _mm256_mul_ps(_mm256_mul_ps(scales, _mm256_set1_ps(quant::half_at<F16cHalf>(src))),
                                         _mm256_loadu_ps(dx + 8 * b));
      const __m256 min = _mm256_mul_ps(mins, _mm256_set1_ps(quant::half_at<F16cHalf>(src + 2)));
      acc[1] = _mm256_fnmadd_ps(min, _mm256_loadu_ps(xsum + 8 * b), acc[1]);
      const uint8_t* qs = src + (kFive ? 48 : 16);
      const __m256i qh = kFive ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16)) : __m256i{};
      const int16_t* x = xq + 256 * b;
      for (int p = 0; p < 4; ++p) {
        Avx2Block::Codes even, odd;
        k4_pair_codes<kFive>(qs, qh, p, even, odd);
        Avx2Block::add(acc[0], even, x + 64 * p, lane_of(scale, 2 * p));
        Avx2Block::add(acc[1], odd, x + 64 * p + 32, lane_of(scale, 2 * p + 1));
      }
    }
    job.y[r] = Avx2Block::total(Avx2Block::sum(acc[0], acc[1]));
  }
}

// Q6_K: the 32 codes (0..63) of quarter q of a 128-value half: the low
// nibbles of ql[0..] and ql[32..], then the high ones, and 2 bits each of qh.
E2LLM_TARGET_AVX2 inline Avx2Block::Codes q6_k_codes(const uint8_t* ql, __m256i qh, int q) {
  const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32 * (q % 2)));
  const __m256i low = _mm256_and_si256(q < 2 ? l : _mm256_srli_epi16(l, 4), _mm256_set1_epi8(0x0F));
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * q), _mm256_set1_epi8(0x03));
  return widen32(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)));
}

// Q6_K: value = d · scale_g · (code − 32) in group g of 16; the 16 scales as two vectors.
E2LLM_TARGET_AVX2 inline void q6_k_rows_one_token_avx2(const Job& job, int64_t r0, int64_t r1) {
  const size_t block_bytes = ggml_type_traits(GgmlType::Q6_K).type_size;
  const int64_t blocks = job.w->cols / 256;
  const size_t row_bytes = static_cast<size_t>(blocks) * block_bytes;
  const int16_t* xq = job.x->q.data();
  const float* dx = job.x->scale.data();  // per 16 values, as the groups
  const float* xsum = job.x->sum.data();
  const __m256 minus32 = _mm256_set1_ps(-32.0f);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = stored_row(*job.w, r, row_bytes);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < blocks; ++b, src += block_bytes) {
      const __m256 d = _mm256_set1_ps(quant::half_at<F16cHalf>(src + 208));
      const int16_t* x = xq + 256 * b;
      for (int h = 0; h < 2; ++h) {  // 128 values: groups 8h .. 8h + 7
        const __m128i scale_bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + 192 + 8 * h));
        const __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scale_bytes)), d);
        const __m256 scale = _mm256_mul_ps(s, _mm256_loadu_ps(dx + 16 * b + 8 * h));
        acc[1] = _mm256_fmadd_ps(_mm256_mul_ps(s, minus32), _mm256_loadu_ps(xsum + 16 * b + 8 * h), acc[1]);
        const uint8_t* ql = src + 64 * h;
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 128 + 32 * h));
        for (int q = 0; q < 4; ++q) {
          const Avx2Block::Codes w = q6_k_codes(ql, qh, q);
          const int16_t* xg = x + 128 * h + 32 * q;
          const __m256i p0 = _mm256_madd_epi16(w.lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xg)));
          const __m256i p1 = _mm256_madd_epi16(w.hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xg + 16)));
          acc[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), lane_of(scale, 2 * q), acc[0]);
          acc[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), lane_of(scale, 2 * q + 1), acc[1]);
        }
      }
    }
    job.y[r] = Avx2Block::total(Avx2Block::sum(acc[0], acc[1]));
  }
}

// ---- many tokens: rows decoded to float32 on AVX2 ------------------------------------
// The tiles of the many-token path (tiled_product below) hold W in float32 for
// the BLAS. dequantize_ggml makes them one value at a time, ~8% of a Gemma 3
// prefill at 512 tokens; here the register decoders above make 16 at a time.
// The float operations are dequantize_ggml's, in its order and with no fused
// multiply-add, so the tiles are bit-identical to it.

// y[0..16) = d · (codes − zero), then + c (kAdd) or − c (kSub).
enum class Then { kNothing, kAdd, kSub };
template <Then kThen>
E2LLM_TARGET_AVX2 inline void store16(float* y, __m256i codes, int zero, __m256 d, __m256 c) {
  codes = _mm256_sub_epi16(codes, _mm256_set1_epi16(static_cast<int16_t>(zero)));
  for (int half = 0; half < 2; ++half) {
    const __m128i eight = half ? _mm256_extracti128_si256(codes, 1) : _mm256_castsi256_si128(codes);
    __m256 v = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(eight)));
    if constexpr (kThen == Then::kAdd) v = _mm256_add_ps(v, c);
    if constexpr (kThen == Then::kSub) v = _mm256_sub_ps(v, c);
    _mm256_storeu_ps(y + 8 * half, v);
  }
}

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: value = d · (code − zero) (+ m for Q4_1 and Q5_1).
E2LLM_TARGET_AVX2 inline void block32_row_floats(GgmlType type, const uint8_t* src, int64_t blocks, float* y) {
  const size_t block_bytes = ggml_type_traits(type).type_size;
  const int zero = type == GgmlType::Q4_0 ? 8 : type == GgmlType::Q5_0 ? 16 : 0;
  const bool with_min = type == GgmlType::Q4_1 || type == GgmlType::Q5_1;
  for (int64_t b = 0; b < blocks; ++b, src += block_bytes, y += 32) {
    Avx2Block::Codes codes;
    const Block32 s = Avx2Block::decode<F16cHalf>(type, src, codes);
    const __m256 d = _mm256_set1_ps(s.d), m = _mm256_set1_ps(s.c);  // c is m where with_min
    if (with_min) {
      store16<Then::kAdd>(y, codes.lo, 0, d, m);
      store16<Then::kAdd>(y + 16, codes.hi, 0, d, m);
    } else {
      store16<Then::kNothing>(y, codes.lo, zero, d, m);
      store16<Then::kNothing>(y + 16, codes.hi, zero, d, m);
    }
  }
}

// Q4_K and Q5_K: value = (d · scale_g) · code − dmin · min_g in sub-block g of 32.
template <bool kFive>
E2LLM_TARGET_AVX2 inline void k4_row_floats(const uint8_t* src, int64_t blocks, float* y) {
  const size_t block_bytes = ggml_type_traits(kFive ? GgmlType::Q5_K : GgmlType::Q4_K).type_size;
  for (int64_t b = 0; b < blocks; ++b, src += block_bytes, y += 256) {
    __m256 scales, mins;
    k_scales_mins8(src + 4, scales, mins);
    const __m256 dl = _mm256_mul_ps(_mm256_set1_ps(quant::half_at<F16cHalf>(src)), scales);
    const __m256 ml = _mm256_mul_ps(_mm256_set1_ps(quant::half_at<F16cHalf>(src + 2)), mins);
    const uint8_t* qs = src + (kFive ? 48 : 16);
    const __m256i qh = kFive ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16)) : __m256i{};
    for (int p = 0; p < 4; ++p) {
      Avx2Block::Codes even, odd;
      k4_pair_codes<kFive>(qs, qh, p, even, odd);
      for (int g = 2 * p; g <= 2 * p + 1; ++g) {
        const Avx2Block::Codes& c = g == 2 * p ? even : odd;
        const __m256 d = lane_of(dl, g), m = lane_of(ml, g);
        store16<Then::kSub>(y + 32 * g, c.lo, 0, d, m);
        store16<Then::kSub>(y + 32 * g + 16, c.hi, 0, d, m);
      }
    }
  }
}

// Q6_K: value = (d · scale_g) · (code − 32) in group g of 16.
E2LLM_TARGET_AVX2 inline void q6_k_row_floats(const uint8_t* src, int64_t blocks, float* y) {
  const size_t block_bytes = ggml_type_traits(GgmlType::Q6_K).type_size;
  for (int64_t b = 0; b < blocks; ++b, src += block_bytes, y += 256) {
    const __m256 d = _mm256_set1_ps(quant::half_at<F16cHalf>(src + 208));
    for (int h = 0; h < 2; ++h) {  // 128 values: groups 8h .. 8h + 7
      const __m128i scale_bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + 192 + 8 * h));
      const __m256 dl = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scale_bytes)));
      const uint8_t* ql = src + 64 * h;
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 128 + 32 * h));
      for (int q = 0; q < 4; ++q) {
        const Avx2Block::Codes c = q6_k_codes(ql, qh, q);
        float* yq = y + 128 * h + 32 * q;
        store16<Then::kNothing>(yq, c.lo, 32, lane_of(dl, 2 * q), dl);
        store16<Then::kNothing>(yq + 16, c.hi, 32, lane_of(dl, 2 * q + 1), dl);
      }
    }
  }
}

// Row r of W in float32, as dequantize_ggml gives it.
E2LLM_TARGET_AVX2 void dequantize_row_avx2(const QuantizedTensor& w, int64_t r, float* y) {
  const int64_t block = ggml_type_traits(w.type).block_size;
  switch (w.type) {
    case GgmlType::Q4_K: return k4_row_floats<false>(w.row(r), w.cols / block, y);
    case GgmlType::Q5_K: return k4_row_floats<true>(w.row(r), w.cols / block, y);
    case GgmlType::Q6_K: return q6_k_row_floats(w.row(r), w.cols / block, y);
    default: return block32_row_floats(w.type, w.row(r), w.cols / block, y);
  }
}

// ---- Q4_0 and Q4_1, four rows at a time (AVX-512) ------------------------------------
// A block's 16 nibble bytes, read as 8 little-endian 16-bit words, hold four
// 4-bit values per word: word j = v[2j] | v[2j+16] << 4 | v[2j+1] << 8 | v[2j+17] << 12.
// Shifting and masking the words therefore yields int16 codes directly, with
// no byte-to-word widening, provided the activations are reordered to match
// (once per call: nibble_order below). The 128-bit lane i of a zmm holds
// block b of row r+i, so one set of vector operations serves four rows and
// the scales of the four rows ride in the lanes, never summed across rows.

// xq in the order the shifted words read it: per block, for shift s = 0, 4, 8, 12,
// the 8 values v[2j + kNibbleSource[s]] (j = 0..7).
constexpr int kNibbleSource[4] = {0, 16, 1, 17};

std::vector<int16_t> nibble_order(const Activations& a) {
  std::vector<int16_t> out(a.q.size());
  for (int64_t block = 0; block < a.n * a.k / 32; ++block) {
    const int16_t* src = a.q.data() + 32 * block;
    int16_t* dst = out.data() + 32 * block;
    for (int s = 0; s < 4; ++s)
      for (int j = 0; j < 8; ++j) dst[8 * s + j] = src[2 * j + kNibbleSource[s]];
  }
  return out;
}

// 8 int16 values repeated in the four 128-bit lanes.
E2LLM_TARGET_AVX512 inline __m512i broadcast_8(const int16_t* x) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
}

// N tokens (0: job.x->n, any count up to 15; 1: a single token, kept in registers).
template <GgmlType kType, int N>
E2LLM_TARGET_AVX512 inline void q4_four_rows(const Job& job, const int16_t* xq, int64_t r) {
  constexpr int kBytes = kType == GgmlType::Q4_0 ? 18 : 20;
  constexpr int kCodes = kType == GgmlType::Q4_0 ? 2 : 4;  // where the nibbles start in a block
  const int64_t n = N ? N : job.x->n, k = job.w->cols, blocks = k / 32, rows = job.w->rows;
  const size_t row_bytes = static_cast<size_t>(blocks) * kBytes;
  const uint8_t* src[4];
  for (int i = 0; i < 4; ++i) src[i] = stored_row(*job.w, r + i, row_bytes);
  const float* dx = job.x->scale.data();
  const float* xsum = job.x->sum.data();
  const __m512i low4 = _mm512_set1_epi16(0x000F);
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6);
  __m512 acc[N ? N : kQuantizedTiledFromTokens - 1];
  __m128 off[N ? N : kQuantizedTiledFromTokens - 1];
  for (int64_t t = 0; t < n; ++t) acc[t] = _mm512_setzero_ps(), off[t] = _mm_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t at = static_cast<size_t>(b) * kBytes;
    __m512i w = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[0] + at + kCodes)));
    w = _mm512_inserti32x4(w, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[1] + at + kCodes)), 1);
    w = _mm512_inserti32x4(w, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[2] + at + kCodes)), 2);
    w = _mm512_inserti32x4(w, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[3] + at + kCodes)), 3);
    const __m512i c0 = _mm512_and_si512(w, low4), c1 = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4),
                  c2 = _mm512_and_si512(_mm512_srli_epi16(w, 8), low4), c3 = _mm512_srli_epi16(w, 12);
    // d (and Q4_1's m) of the four rows: float16 pairs [d0 m0 d1 m1 d2 m2 d3 m3].
    uint32_t head[4];
    for (int i = 0; i < 4; ++i) std::memcpy(&head[i], src[i] + at, 4);
    const __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32(static_cast<int>(head[0]), static_cast<int>(head[1]),
                                                     static_cast<int>(head[2]), static_cast<int>(head[3])));
    const __m512 d = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(dm));
    const __m128 c = kType == GgmlType::Q4_0
                         ? _mm_mul_ps(_mm_set1_ps(-8.0f), _mm256_castps256_ps128(_mm256_permutevar8x32_ps(
                                                              dm, _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0))))
                         : _mm256_castps256_ps128(_mm256_permutevar8x32_ps(dm, _mm256_setr_epi32(1, 3, 5, 7, 0, 0, 0, 0)));
    for (int64_t t = 0; t < n; ++t) {
      const int16_t* x = xq + t * k + 32 * b;
      const __m512i p = _mm512_add_epi32(
          _mm512_add_epi32(_mm512_madd_epi16(c0, broadcast_8(x)), _mm512_madd_epi16(c1, broadcast_8(x + 8))),
          _mm512_add_epi32(_mm512_madd_epi16(c2, broadcast_8(x + 16)), _mm512_madd_epi16(c3, broadcast_8(x + 24))));
      const int64_t g = t * (k / kGroup) + 2 * b;
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(d, _mm512_set1_ps(dx[g])), acc[t]);
      off[t] = _mm_fmadd_ps(c, _mm_set1_ps(xsum[g] + xsum[g + 1]), off[t]);
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    alignas(64) float lanes[16];
    alignas(16) float offsets[4];
    _mm512_store_ps(lanes, acc[t]);
    _mm_store_ps(offsets, off[t]);
    for (int i = 0; i < 4; ++i)
      job.y[t * rows + r + i] = (lanes[4 * i] + lanes[4 * i + 1]) + (lanes[4 * i + 2] + lanes[4 * i + 3]) + offsets[i];
  }
}

template <GgmlType kType>
E2LLM_TARGET_AVX512 inline void q4_rows_avx512(const Job& job, const int16_t* reordered, int64_t r0, int64_t r1) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4)
    job.x->n == 1 ? q4_four_rows<kType, 1>(job, reordered, r) : q4_four_rows<kType, 0>(job, reordered, r);
  if (r < r1) block32_rows_any<Avx512Block, kType>(job, r, r1);  // the last rows of the range, one at a time
}

// flatten: the whole row loop, unpacking included, is compiled for each
// path's instruction set (the dot products cannot be always_inline into the
// generic row loop, whose own target is the default one).
void rows_portable(const Job& job, int64_t r0, int64_t r1) { rows_for_type<DotPortable>(job, r0, r1); }

// The 32-value block types decode in registers; so do the k-quants for one
// token on AVX2; the k-quants' other cases go through Chunk.
template <class Path, template <bool> class Dot>
E2LLM_ALWAYS_INLINE void rows_simd(const Job& job, int64_t r0, int64_t r1) {
  switch (job.w->type) {
    case GgmlType::Q4_0: return block32_rows_any<Path, GgmlType::Q4_0>(job, r0, r1);
    case GgmlType::Q4_1: return block32_rows_any<Path, GgmlType::Q4_1>(job, r0, r1);
    case GgmlType::Q5_0: return block32_rows_any<Path, GgmlType::Q5_0>(job, r0, r1);
    case GgmlType::Q5_1: return block32_rows_any<Path, GgmlType::Q5_1>(job, r0, r1);
    case GgmlType::Q8_0: return block32_rows_any<Path, GgmlType::Q8_0>(job, r0, r1);
    default: break;
  }
  if constexpr (std::is_same_v<Path, Avx2Block>) {
    if (job.x->n == 1) switch (job.w->type) {
        case GgmlType::Q4_K: return k4_rows_one_token_avx2<GgmlType::Q4_K>(job, r0, r1);
        case GgmlType::Q5_K: return k4_rows_one_token_avx2<GgmlType::Q5_K>(job, r0, r1);
        case GgmlType::Q6_K: return q6_k_rows_one_token_avx2(job, r0, r1);
        default: break;
      }
  }
  rows_for_type<Dot>(job, r0, r1);
}
E2LLM_TARGET_AVX2 __attribute__((flatten)) void rows_avx2(const Job& job, int64_t r0, int64_t r1) {
  rows_simd<Avx2Block, DotAvx2>(job, r0, r1);
}
E2LLM_TARGET_AVX512 __attribute__((flatten)) void rows_avx512(const Job& job, int64_t r0, int64_t r1) {
  switch (job.w->type) {
    case GgmlType::Q4_0: return q4_rows_avx512<GgmlType::Q4_0>(job, job.reordered_xq, r0, r1);
    case GgmlType::Q4_1: return q4_rows_avx512<GgmlType::Q4_1>(job, job.reordered_xq, r0, r1);
    default: return rows_simd<Avx512Block, DotAvx512>(job, r0, r1);
  }
}

// ---- choosing the path ----------------------------------------------------------------

bool cpu_has(QuantKernel kernel) {
  switch (kernel) {
    case QuantKernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case QuantKernel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    default: return true;
  }
}

QuantKernel parse_kernel(const std::string& name) {
  for (QuantKernel k : {QuantKernel::kAuto, QuantKernel::kPortable, QuantKernel::kAvx2, QuantKernel::kAvx512})
    if (quant_kernel_name(k) == name) return k;
  fail("E2LLM_QUANT_KERNEL='{}': expected auto, portable, avx2 or avx512", name);
}

void check_available(QuantKernel kernel) {
  E2LLM_CHECK(cpu_has(kernel), "the {} quantized kernel needs CPU extensions this CPU lacks ({})",
              quant_kernel_name(kernel),
              kernel == QuantKernel::kAvx2 ? "avx2, fma, f16c" : "avx512f/bw/vl, f16c");
}

QuantKernel initial_kernel() {
  const char* forced = std::getenv("E2LLM_QUANT_KERNEL");
  if (!forced) return QuantKernel::kAuto;
  const QuantKernel k = parse_kernel(forced);
  check_available(k);
  return k;
}

std::atomic<QuantKernel>& kernel_setting() {
  static std::atomic<QuantKernel> kernel{initial_kernel()};
  return kernel;
}

void check_matrix(const QuantizedTensor& w) {
  E2LLM_CHECK(quantized_matmul_supports(w.type), "no quantized kernel for ggml type {}",
              ggml_type_traits(w.type).name);
  const int64_t block = ggml_type_traits(w.type).block_size;
  E2LLM_CHECK(w.data && w.rows > 0 && w.cols > 0 && w.cols % block == 0,
              "quantized {} matrix [{}, {}]: rows must be whole {}-value blocks", ggml_type_traits(w.type).name,
              w.rows, w.cols, block);
  E2LLM_CHECK(w.row_order.empty() || static_cast<int64_t>(w.row_order.size()) == w.rows,
              "quantized matrix of {} rows has a row order of {}", w.rows, w.row_order.size());
}

// Rows [r0, r1) of W in float32, row-major, as dequantize_ggml gives them.
void dequantize_rows(const QuantizedTensor& w, int64_t r0, int64_t r1, float* out) {
  const bool avx2 = resolved_quant_kernel() != QuantKernel::kPortable;
  at::parallel_for(r0, r1, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = out + (r - r0) * w.cols;
      if (avx2)
        dequantize_row_avx2(w, r, row);
      else
        dequantize_ggml(w.type, w.row(r), static_cast<uint64_t>(w.cols), row);
    }
  });
}

// Many tokens: x · Wᵀ a tile of rows at a time through float32 and the BLAS,
// each tile's product written into its columns of y (no copy). The tile's
// buffer stays with the thread: a fresh one per call cost page faults.
void tiled_product(const torch::Tensor& x2d, const QuantizedTensor& w, torch::Tensor& y) {
  const int64_t tile_rows = std::min(w.rows, std::max<int64_t>(64, (int64_t{1} << 20) / w.cols));  // ~4 MB
  thread_local std::vector<float> tile;
  tile.resize(static_cast<size_t>(tile_rows * w.cols));
  for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
    const int64_t r1 = std::min(w.rows, r0 + tile_rows);
    dequantize_rows(w, r0, r1, tile.data());
    const torch::Tensor part = torch::from_blob(tile.data(), {r1 - r0, w.cols}, torch::kFloat32);
    torch::Tensor out = y.narrow(1, r0, r1 - r0);
    torch::mm_out(out, x2d, part.t());
  }
}

// Fewer than kQuantizedTiledFromTokens rows of x (contiguous float32
// [..., cols]) times every matrix, into ys (contiguous [..., rows] each)
// through the integer kernels.
void few_tokens_product(const torch::Tensor& x, const std::vector<const QuantizedTensor*>& ws,
                        std::vector<torch::Tensor>& ys) {
  const int64_t cols = x.size(-1), n = x.numel() / cols;
  // The activations are quantized once for all matrices, and one parallel
  // region covers the rows of them all: q/k/v or gate/up of a decoding step
  // cost one fork and join, not three or two (docs/decoder.md).
  const QuantKernel kernel = resolved_quant_kernel();
  const Activations a = quantize_activations(x.data_ptr<float>(), n, cols, kernel);
  std::vector<int16_t> reordered;
  std::vector<Job> jobs;
  std::vector<int64_t> first_row{0};  // of each matrix in the rows of all
  for (size_t i = 0; i < ws.size(); ++i) {
    Job job{ws[i], &a, ys[i].data_ptr<float>()};
    if (kernel == QuantKernel::kAvx512 && (ws[i]->type == GgmlType::Q4_0 || ws[i]->type == GgmlType::Q4_1)) {
      if (reordered.empty()) reordered = nibble_order(a);
      job.reordered_xq = reordered.data();
    }
    jobs.push_back(job);
    first_row.push_back(first_row.back() + ws[i]->rows);
  }
  // Enough rows per task that a thread's share is mostly streaming weights
  // (and a multiple of 4, the rows the Q4 kernel takes at once).
  at::parallel_for(0, first_row.back(), 16, [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < jobs.size(); ++i) {
      const int64_t r0 = std::max(begin, first_row[i]) - first_row[i];
      const int64_t r1 = std::min(end, first_row[i + 1]) - first_row[i];
      if (r0 >= r1) continue;
      switch (kernel) {
        case QuantKernel::kAvx512: rows_avx512(jobs[i], r0, r1); break;
        case QuantKernel::kAvx2: rows_avx2(jobs[i], r0, r1); break;
        default: rows_portable(jobs[i], r0, r1); break;
      }
    }
  });
}

}  // namespace

std::string quant_kernel_name(QuantKernel kernel) {
  switch (kernel) {
    case QuantKernel::kAuto: return "auto";
    case QuantKernel::kPortable: return "portable";
    case QuantKernel::kAvx2: return "avx2";
    case QuantKernel::kAvx512: return "avx512";
  }
  return "?";
}

void set_quant_kernel(QuantKernel kernel) {
  check_available(kernel);
  kernel_setting().store(kernel);
}

QuantKernel quant_kernel() { return kernel_setting().load(); }

QuantKernel resolved_quant_kernel() {
  const QuantKernel k = quant_kernel();
  if (k != QuantKernel::kAuto) return k;
  // AVX2 even where the CPU has AVX-512: the AVX2 path has the register
  // decoding of the k-quants, the scale gathers and the row prefetch, and on a
  // Zen 4 it beat the AVX-512 path on every type (docs/decoder.md, "Path choice").
  if (cpu_has(QuantKernel::kAvx2)) return QuantKernel::kAvx2;
  return QuantKernel::kPortable;
}

bool quantized_matmul_supports(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: return true;
    default: return false;
  }
}

std::vector<torch::Tensor> quantized_linears(const torch::Tensor& x, const std::vector<const QuantizedTensor*>& ws) {
  E2LLM_CHECK(!ws.empty(), "quantized linear: no matrices");
  for (const QuantizedTensor* w : ws) {
    check_matrix(*w);
    E2LLM_CHECK(x.dim() >= 1 && x.size(-1) == w->cols, "quantized linear: input of width {} for a [{}, {}] matrix",
                x.dim() ? x.size(-1) : 0, w->rows, w->cols);
  }
  E2LLM_CHECK(x.device().is_cpu(), "quantized weights run on the CPU only, got input on {}", x.device().str());
  const int64_t cols = ws.front()->cols, n = x.numel() / cols;
  // Decoding's float32 rows are read as they lie and the results made in x's
  // shape: a few tokens' worth of work does not pay for reshapes and no-op
  // conversions through the dispatcher (docs/decoder.md, "Per call").
  const torch::Tensor xf = as_type(x, torch::kFloat32).contiguous();
  std::vector<torch::Tensor> ys;
  std::vector<int64_t> out_shape = x.sizes().vec();
  for (const QuantizedTensor* w : ws) {
    out_shape.back() = w->rows;
    ys.push_back(torch::empty(out_shape, torch::kFloat32));
  }
  if (n >= kQuantizedTiledFromTokens) {
    for (size_t i = 0; i < ws.size(); ++i) {
      torch::Tensor y2d = ys[i].view({n, ws[i]->rows});
      tiled_product(xf.view({n, cols}), *ws[i], y2d);
    }
  } else if (n > 0) {
    few_tokens_product(xf, ws, ys);
  }
  return ys;
}

torch::Tensor quantized_linear(const torch::Tensor& x, const QuantizedTensor& w) {
  return quantized_linears(x, {&w}).front();
}

torch::Tensor quantized_rows(const QuantizedTensor& w, const torch::Tensor& ids) {
  E2LLM_CHECK(ids.scalar_type() == torch::kInt64, "quantized_rows: ids must be int64");
  E2LLM_CHECK(ggml_can_dequantize(w.type), "cannot dequantize ggml type {}", ggml_type_traits(w.type).name);
  const torch::Tensor flat = ids.reshape({-1}).contiguous();
  const int64_t n = flat.numel();
  const int64_t* id = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    E2LLM_CHECK(id[i] >= 0 && id[i] < w.rows, "row {} outside a matrix of {} rows", id[i], w.rows);
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(w.cols);
  torch::Tensor out = torch::empty({n, w.cols}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      dequantize_ggml(w.type, w.row(id[i]), static_cast<uint64_t>(w.cols), o + i * w.cols);
  });
  return out.view(shape);
}

}  // namespace e2llm::nn
