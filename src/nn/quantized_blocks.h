// ggml's block layouts (ggml-common.h) unpacked into one shape every kernel
// path reads: for up to 256 consecutive values of a row, a byte code per
// value and, per group of 16 values, a scale and an offset, so that
//     value = scale[group] * code + offset[group].
// Codes are unsigned (0..63) for every type but Q8_0, whose codes are its own
// signed bytes (offset 0). The arithmetic matches src/io/gguf_dequant.cpp up to
// float rounding (a·q + c instead of its operation order).
//
// The functions are plain loops over fixed counts: they are inlined into each
// kernel path (src/nn/quantized_matmul.cpp), where the compiler vectorises
// them for that path's instruction set.
#pragma once
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>

#include "e2llm/io/gguf_format.h"

namespace e2llm::nn::quant {

#define E2LLM_ALWAYS_INLINE inline __attribute__((always_inline))

constexpr int kChunk = 256;             // values unpacked at a time
constexpr int kGroup = 16;              // values per scale
constexpr int kGroups = kChunk / kGroup;

struct Chunk {
  alignas(64) uint8_t codes[kChunk];
  alignas(64) float scale[kGroups];
  alignas(64) float offset[kGroups];
};

// float16 -> float32 in portable code; kernel paths with F16C pass their
// own converter as the `Half` parameter of the unpack functions below (the
// software conversion costs more than the integer dot product it feeds).
struct PortableHalf {
  static E2LLM_ALWAYS_INLINE float to_float(uint16_t bits) { return c10::detail::fp16_ieee_to_fp32_value(bits); }
};

template <class Half>
E2LLM_ALWAYS_INLINE float half_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return Half::to_float(bits);
}

// The unpacking works on 8 bytes at a time in 64-bit words (shift, then
// mask every byte), which every compiler turns into a few instructions; the
// per-byte loops these replace were left scalar by GCC and cost more than the
// dot products.
E2LLM_ALWAYS_INLINE uint64_t load8(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
E2LLM_ALWAYS_INLINE void store8(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
constexpr uint64_t kEachByte = 0x0101010101010101ULL;

// 32-value blocks: low nibbles hold values 0..15 of a block, high nibbles 16..31.
E2LLM_ALWAYS_INLINE void nibbles(const uint8_t* qs, uint8_t* codes) {
  for (int j = 0; j < 16; j += 8) {
    const uint64_t w = load8(qs + j);
    store8(codes + j, w & (0x0F * kEachByte));
    store8(codes + 16 + j, (w >> 4) & (0x0F * kEachByte));
  }
}

// Byte i of kBitToByte[b] is 0x10 when bit i of b is set.
struct BitToByte {
  uint64_t table[256];
  constexpr BitToByte() : table() {
    for (int b = 0; b < 256; ++b)
      for (int i = 0; i < 8; ++i)
        if (b >> i & 1) table[b] |= uint64_t{0x10} << (8 * i);
  }
};
inline constexpr BitToByte kBitToByte;

// The fifth bit of value j is bit j of the little-endian u32 qh.
E2LLM_ALWAYS_INLINE void fifth_bits(const uint8_t* qh, uint8_t* codes) {
  for (int b = 0; b < 4; ++b) store8(codes + 8 * b, load8(codes + 8 * b) | kBitToByte.table[qh[b]]);
}

E2LLM_ALWAYS_INLINE void set_block(Chunk& c, int b, float scale, float offset) {
  c.scale[2 * b] = c.scale[2 * b + 1] = scale;
  c.offset[2 * b] = c.offset[2 * b + 1] = offset;
}

template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q4_0(const uint8_t* src, int blocks, Chunk& c) {
  for (int b = 0; b < blocks; ++b, src += 18) {
    const float d = half_at<Half>(src);
    nibbles(src + 2, c.codes + 32 * b);
    set_block(c, b, d, -8.0f * d);
  }
}

template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q4_1(const uint8_t* src, int blocks, Chunk& c) {
  for (int b = 0; b < blocks; ++b, src += 20) {
    nibbles(src + 4, c.codes + 32 * b);
    set_block(c, b, half_at<Half>(src), half_at<Half>(src + 2));
  }
}

template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q5_0(const uint8_t* src, int blocks, Chunk& c) {
  for (int b = 0; b < blocks; ++b, src += 22) {
    const float d = half_at<Half>(src);
    nibbles(src + 6, c.codes + 32 * b);
    fifth_bits(src + 2, c.codes + 32 * b);
    set_block(c, b, d, -16.0f * d);
  }
}

template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q5_1(const uint8_t* src, int blocks, Chunk& c) {
  for (int b = 0; b < blocks; ++b, src += 24) {
    nibbles(src + 8, c.codes + 32 * b);
    fifth_bits(src + 4, c.codes + 32 * b);
    set_block(c, b, half_at<Half>(src), half_at<Half>(src + 2));
  }
}

// Signed codes: the kernels treat them as int8.
template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q8_0(const uint8_t* src, int blocks, Chunk& c) {
  for (int b = 0; b < blocks; ++b, src += 34) {
    std::memcpy(c.codes + 32 * b, src + 2, 32);
    set_block(c, b, half_at<Half>(src), 0.0f);
  }
}

// Q4_K/Q5_K: the 8 six-bit scales and mins of a 256-value block (12 bytes).
E2LLM_ALWAYS_INLINE void k_scales_mins(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 0x3F;
    mn[j] = s[j + 4] & 0x3F;
    sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
    mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
  }
}

template <class Half>
E2LLM_ALWAYS_INLINE void k_groups(const uint8_t* b, Chunk& c) {
  const float d = half_at<Half>(b), dmin = half_at<Half>(b + 2);
  uint8_t sc[8], mn[8];
  k_scales_mins(b + 4, sc, mn);
  for (int g = 0; g < 8; ++g) set_block(c, g, d * static_cast<float>(sc[g]), -dmin * static_cast<float>(mn[g]));
}

// Q4_K: d, dmin, scales[12], qs[128]; sub-block g (32 values) is the low
// (g even) or high (g odd) nibbles of qs[32·(g/2) ..].
template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q4_k(const uint8_t* b, int /*blocks = 1*/, Chunk& c) {
  k_groups<Half>(b, c);
  const uint8_t* qs = b + 16;
  for (int p = 0; p < 4; ++p)
    for (int j = 0; j < 32; j += 8) {
      const uint64_t w = load8(qs + 32 * p + j);
      store8(c.codes + 64 * p + j, w & (0x0F * kEachByte));
      store8(c.codes + 64 * p + 32 + j, (w >> 4) & (0x0F * kEachByte));
    }
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128]; bit g of qh[j] is the fifth bit
// of value j of sub-block g.
template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q5_k(const uint8_t* b, int /*blocks = 1*/, Chunk& c) {
  k_groups<Half>(b, c);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int p = 0; p < 4; ++p)
    for (int j = 0; j < 32; j += 8) {
      const uint64_t w = load8(qs + 32 * p + j), h = load8(qh + j);
      store8(c.codes + 64 * p + j, (w & (0x0F * kEachByte)) | ((h >> (2 * p)) & kEachByte) << 4);
      store8(c.codes + 64 * p + 32 + j, ((w >> 4) & (0x0F * kEachByte)) | ((h >> (2 * p + 1)) & kEachByte) << 4);
    }
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d. In half h (128 values),
// quarter q (32 values) takes the low (q < 2) or high nibbles of
// ql[64h + 32·(q % 2) ..] and bits 2q..2q+1 of qh[32h ..]; value = d·scale·(code − 32).
template <class Half>
E2LLM_ALWAYS_INLINE void unpack_q6_k(const uint8_t* b, int /*blocks = 1*/, Chunk& c) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at<Half>(b + 208);
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 4; ++q)
      for (int j = 0; j < 32; j += 8) {
        const uint64_t lo = (load8(ql + 64 * h + 32 * (q % 2) + j) >> (4 * (q / 2))) & (0x0F * kEachByte);
        const uint64_t hi = (load8(qh + 32 * h + j) >> (2 * q)) & (0x03 * kEachByte);
        store8(c.codes + 128 * h + 32 * q + j, lo | hi << 4);
      }
  for (int g = 0; g < kGroups; ++g) {
    const float s = d * static_cast<float>(scales[g]);
    c.scale[g] = s;
    c.offset[g] = -32.0f * s;
  }
}

}  // namespace e2llm::nn::quant
