// Encoder throughput at 512-token chunks: chunks/s and achieved GFLOP/s (the
// matmul FLOPs of the transformer layers) for the all-MiniLM-L6-v2 and
// bge-small-en-v1.5 architectures, fp32 and bf16. Random weights of the exact
// shapes (speed does not depend on the values), so it runs without downloads.
// Compare with bench_gemm's peak and scripts/golden/bench_encoder_st.py
// (sentence-transformers); docs/encoder.md has the figures. The last case runs
// the attention as ATen ops, as before the fused kernel, for the before/after.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "e2llm/encoder/attention.h"
#include "e2llm/encoder/encoder.h"
#include "e2llm/core/runtime.h"
#include "support/random_models.h"

namespace {

using namespace e2llm;

constexpr int64_t kChunkTokens = 512;

EncoderConfig shape(int64_t layers) {
  EncoderConfig c;  // BERT, 384 hidden, 12 heads, 1536 intermediate: MiniLM-L6 (6) / bge-small (12)
  c.vocab_size = 30522;
  c.hidden_size = 384;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 12;
  c.intermediate_size = 1536;
  c.max_position_embeddings = 512;
  return c;
}

TextEncoder& encoder_for(int64_t layers, torch::ScalarType dtype) {
  static std::map<std::pair<int64_t, int>, std::unique_ptr<TextEncoder>> cache;
  auto key = std::make_pair(layers, static_cast<int>(dtype));
  if (!cache[key]) {
    const std::string folder =
        (std::filesystem::temp_directory_path() / ("e2llm-bench-encoder-" + std::to_string(layers))).string();
    if (!std::filesystem::exists(folder + "/model.safetensors")) write_random_encoder(folder, shape(layers), 1);
    cache[key] = std::make_unique<TextEncoder>(TextEncoder::load(folder, {dtype, torch::kCPU}));
  }
  return *cache[key];
}

double flops_per_chunk(const EncoderConfig& c, int64_t t) {
  const double h = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size);
  const double per_layer = 2.0 * t * (4 * h * h + 2 * h * i) + 4.0 * t * t * h;
  return per_layer * static_cast<double>(c.num_hidden_layers);
}

void BM_Encode(benchmark::State& state, int64_t layers, torch::ScalarType dtype,
               nn::AttentionKernel attention = nn::AttentionKernel::kAuto) {
  set_threads(static_cast<int>(state.range(1)));
  nn::set_attention_kernel(attention);
  TextEncoder& encoder = encoder_for(layers, dtype);
  const int64_t batch = state.range(0);
  std::vector<std::vector<int64_t>> chunks(batch, std::vector<int64_t>(kChunkTokens));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < kChunkTokens; ++t) chunks[b][t] = 1000 + (b * 7919 + t * 104729) % 29000;
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kMean, .normalize = true}, encoder.hidden_size());
  torch::InferenceMode inference;
  for (auto _ : state) benchmark::DoNotOptimize(encoder.encode_tokens(chunks, pooler, {.max_batch_tokens = batch * kChunkTokens}));
  const double chunks_done = static_cast<double>(state.iterations() * batch);
  state.counters["chunks/s"] = benchmark::Counter(chunks_done, benchmark::Counter::kIsRate);
  nn::set_attention_kernel(nn::AttentionKernel::kAuto);
  state.counters["GFLOP/s"] = benchmark::Counter(chunks_done * flops_per_chunk(encoder.config(), kChunkTokens) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

// Args: chunks per batch, threads.
BENCHMARK_CAPTURE(BM_Encode, minilm_fp32, 6, torch::kFloat32)->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Encode, minilm_bf16, 6, torch::kBFloat16)->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Encode, bge_small_fp32, 12, torch::kFloat32)->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Encode, bge_small_bf16, 12, torch::kBFloat16)->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
// Before the fused attention kernel: the ATen-ops attention (batched matmuls + softmax).
BENCHMARK_CAPTURE(BM_Encode, minilm_fp32_aten_attention, 6, torch::kFloat32, nn::AttentionKernel::kReference)
    ->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
