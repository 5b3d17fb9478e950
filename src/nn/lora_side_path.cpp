#include "nn/lora_side_path.h"

#include <immintrin.h>

#include <vector>

#include "nn/avx2_math.h"

namespace e2llm::nn::detail {
namespace {

// ---- portable -----------------------------------------------------------------------

float dot_portable(const float* a, const float* b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void row_portable(const float* x, int64_t in, const float* a, int64_t rank, const float* b, int64_t out,
                  float scaling, float* y, float* down) {
  for (int64_t j = 0; j < rank; ++j) down[j] = scaling * dot_portable(a + j * in, x, in);
  for (int64_t o = 0; o < out; ++o) y[o] += dot_portable(b + o * rank, down, rank);
}

// ---- AVX2 ---------------------------------------------------------------------------

E2LLM_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
  float sum = avx2::horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// The first `n` (< 8) lanes set.
E2LLM_AVX2 __m256i first_lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// B·down for eight outputs: each row of B (rank values) times down as eight
// lanes, then the eight lane sums at once (a row of B is too short to pay for
// a horizontal sum of its own).
E2LLM_AVX2 __m256 eight_outputs(const float* b, int64_t rank, const float* down) {
  __m256 p[8];
  const int64_t full = rank / 8 * 8;
  const __m256i tail = first_lanes(rank - full);
  for (int k = 0; k < 8; ++k) {
    const float* row = b + k * rank;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < full; j += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(down + j), acc);
    if (full < rank)
      acc = _mm256_fmadd_ps(_mm256_maskload_ps(row + full, tail), _mm256_maskload_ps(down + full, tail), acc);
    p[k] = acc;
  }
  return avx2::horizontal_sums(p);
}

E2LLM_AVX2 void row_avx2(const float* x, int64_t in, const float* a, int64_t rank, const float* b, int64_t out,
                         float scaling, float* y, float* down) {
  for (int64_t j = 0; j < rank; ++j) down[j] = scaling * dot_avx2(a + j * in, x, in);
  int64_t o = 0;
  for (; o + 8 <= out; o += 8)
    _mm256_storeu_ps(y + o, _mm256_add_ps(_mm256_loadu_ps(y + o), eight_outputs(b + o * rank, rank, down)));
  for (; o < out; ++o) y[o] += dot_avx2(b + o * rank, down, rank);
}

}  // namespace

SidePathKernel best_side_path_kernel() {
  return avx2::cpu_supported() ? SidePathKernel::kAvx2 : SidePathKernel::kPortable;
}

void add_lora_side_path(const float* x, int64_t rows, int64_t in, const float* a, int64_t rank, const float* b,
                        int64_t out, float scaling, float* y, SidePathKernel kernel) {
  thread_local std::vector<float> down;
  down.resize(static_cast<size_t>(rank));
  for (int64_t r = 0; r < rows; ++r) {
    if (kernel == SidePathKernel::kAvx2)
      row_avx2(x + r * in, in, a, rank, b, out, scaling, y + r * out, down.data());
    else
      row_portable(x + r * in, in, a, rank, b, out, scaling, y + r * out, down.data());
  }
}

}  // namespace e2llm::nn::detail
