// Dequantization throughput per ggml type (runs at model load over ~100M
// weights). Random blocks with finite f16 scales; reports elements/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "e2llm/io/gguf.h"
#include "e2llm/core/runtime.h"

namespace {

using e2llm::GgmlType;

// Random bytes per block, then a finite f16 scale (0x2000 ~ 0.0078) written
// over every 2-byte field that could hold one: values stay finite.
std::vector<uint8_t> random_blocks(GgmlType type, size_t n_blocks) {
  const auto& t = e2llm::ggml_type_traits(type);
  std::vector<uint8_t> data(n_blocks * t.type_size);
  std::mt19937 rng(42);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const uint16_t scale = 0x2000;
  for (size_t i = 0; i < n_blocks; ++i) {
    uint8_t* block = data.data() + i * t.type_size;
    if (type == GgmlType::Q6_K) {
      std::memcpy(block + 208, &scale, 2);
    } else {
      std::memcpy(block, &scale, 2);
      if (type == GgmlType::Q4_1 || type == GgmlType::Q5_1 || type == GgmlType::Q4_K ||
          type == GgmlType::Q5_K)
        std::memcpy(block + 2, &scale, 2);
    }
  }
  return data;
}

void BM_Dequantize(benchmark::State& state, GgmlType type) {
  e2llm::set_threads(0);
  const auto& t = e2llm::ggml_type_traits(type);
  const size_t n_elements = 1 << 22;  // 4M weights, a large projection matrix
  const auto src = random_blocks(type, n_elements / t.block_size);
  std::vector<float> dst(n_elements);
  for (auto _ : state) {
    e2llm::dequantize_ggml(type, src.data(), n_elements, dst.data());
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n_elements));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * src.size()));
}

BENCHMARK_CAPTURE(BM_Dequantize, F16, GgmlType::F16)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q8_0, GgmlType::Q8_0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q4_0, GgmlType::Q4_0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q4_1, GgmlType::Q4_1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q5_0, GgmlType::Q5_0)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q5_1, GgmlType::Q5_1)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q4_K, GgmlType::Q4_K)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q5_K, GgmlType::Q5_K)->UseRealTime();
BENCHMARK_CAPTURE(BM_Dequantize, Q6_K, GgmlType::Q6_K)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
