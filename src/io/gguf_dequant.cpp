// Dequantization of ggml tensor types to float32.
// Block layouts follow ggml's ggml-common.h; the arithmetic follows gguf-py's
// quants.py operation by operation (same float32 products in the same order,
// no fused multiply-add) so results are bit-identical.
#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstring>

#include "e2llm/core/error.h"
#include "e2llm/io/gguf.h"

namespace e2llm {

namespace {

float f16(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return c10::detail::fp16_ieee_to_fp32_value(bits);
}

uint32_t u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// The 4-bit value i (0..31) of a 32-element block: low nibbles hold 0..15,
// high nibbles 16..31.
int nibble(const uint8_t* qs, int i) { return (qs[i % 16] >> (4 * (i / 16))) & 0xF; }

// ---- 32-element blocks -----------------------------------------------------------

void block_q4_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(nibble(b + 2, i) - 8);
}

void block_q4_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  for (int i = 0; i < 32; ++i) {
    const float dq = d * static_cast<float>(nibble(b + 4, i));
    y[i] = dq + m;
  }
}

void block_q5_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  const uint32_t qh = u32le(b + 2);
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 6, i) | static_cast<int>((qh >> i) & 1) << 4;
    y[i] = d * static_cast<float>(q - 16);
  }
}

void block_q5_1(const uint8_t* b, float* y) {
  const float d = f16(b), m = f16(b + 2);
  const uint32_t qh = u32le(b + 4);
  for (int i = 0; i < 32; ++i) {
    const int q = nibble(b + 8, i) | static_cast<int>((qh >> i) & 1) << 4;
    const float dq = d * static_cast<float>(q);
    y[i] = dq + m;
  }
}

void block_q8_0(const uint8_t* b, float* y) {
  const float d = f16(b);
  for (int i = 0; i < 32; ++i) y[i] = static_cast<float>(static_cast<int8_t>(b[2 + i])) * d;
}

// ---- 256-element k-quant blocks ----------------------------------------------------

// Unpacks the 8 six-bit scales and mins of Q4_K/Q5_K (12 bytes).
void k_scales_mins(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[j + 4] & 0x3F;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
  }
}

// Q4_K: d, dmin, scales[12], qs[128]. Sub-block g (32 values) reads the low
// (g even) or high (g odd) nibbles of qs[32 * (g / 2) ..].
void block_q4_k(const uint8_t* b, float* y) {
  const float d = f16(b), dmin = f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scales_mins(b + 4, sc, mn);
  const uint8_t* qs = b + 16;
  for (int g = 0; g < 8; ++g) {
    const float dl = d * static_cast<float>(sc[g]);
    const float ml = dmin * static_cast<float>(mn[g]);
    const uint8_t* q = qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    for (int j = 0; j < 32; ++j) {
      const float dq = dl * static_cast<float>((q[j] >> shift) & 0xF);
      y[32 * g + j] = dq - ml;
    }
  }
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128]; bit g of qh[j] is the fifth bit
// of value j in sub-block g.
void block_q5_k(const uint8_t* b, float* y) {
  const float d = f16(b), dmin = f16(b + 2);
  uint8_t sc[8], mn[8];
  k_scales_mins(b + 4, sc, mn);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int g = 0; g < 8; ++g) {
    const float dl = d * static_cast<float>(sc[g]);
    const float ml = dmin * static_cast<float>(mn[g]);
    const uint8_t* q = qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    for (int j = 0; j < 32; ++j) {
      const int v = ((q[j] >> shift) & 0xF) | ((qh[j] >> g) & 1) << 4;
      const float dq = dl * static_cast<float>(v);
      y[32 * g + j] = dq - ml;
    }
  }
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d. Each half h (128 values) uses
// ql[64h ..] (low nibbles for its first 64 values, high for the next 64) and
// qh[32h ..] (2 bits per value, quarter k at bit 2k); 16 values per scale.
void block_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16(b + 208);
  for (int i = 0; i < 256; ++i) {
    const int h = i / 128, r = i % 128;
    const int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0xF;
    const int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x3;
    const float dl = d * static_cast<float>(scales[i / 16]);
    y[i] = dl * static_cast<float>((lo | hi << 4) - 32);
  }
}

// ---- element types ---------------------------------------------------------------

void block_f16(const uint8_t* b, float* y) { *y = f16(b); }

void block_bf16(const uint8_t* b, float* y) {
  const uint32_t bits = static_cast<uint32_t>(b[0] | b[1] << 8) << 16;
  std::memcpy(y, &bits, 4);
}

void block_f32(const uint8_t* b, float* y) { std::memcpy(y, b, 4); }

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_function(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return block_f32;
    case GgmlType::F16: return block_f16;
    case GgmlType::BF16: return block_bf16;
    case GgmlType::Q4_0: return block_q4_0;
    case GgmlType::Q4_1: return block_q4_1;
    case GgmlType::Q5_0: return block_q5_0;
    case GgmlType::Q5_1: return block_q5_1;
    case GgmlType::Q8_0: return block_q8_0;
    case GgmlType::Q4_K: return block_q4_k;
    case GgmlType::Q5_K: return block_q5_k;
    case GgmlType::Q6_K: return block_q6_k;
    default: return nullptr;
  }
}

}  // namespace

bool ggml_can_dequantize(GgmlType type) { return block_function(type) != nullptr; }

void dequantize_ggml(GgmlType type, const uint8_t* src, uint64_t n_elements, float* dst) {
  const GgmlTypeTraits& traits = ggml_type_traits(type);
  const BlockFn fn = block_function(type);
  E2LLM_CHECK(fn, "cannot dequantize ggml type {}", traits.name);
  E2LLM_CHECK(n_elements % traits.block_size == 0,
              "{} data of {} elements is not a whole number of {}-element blocks", traits.name,
              n_elements, traits.block_size);
  const int64_t n_blocks = static_cast<int64_t>(n_elements / traits.block_size);
  const int64_t grain = std::max<int64_t>(1, 16384 / traits.block_size);
  at::parallel_for(0, n_blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      fn(src + i * traits.type_size, dst + i * traits.block_size);
  });
}

}  // namespace e2llm
