// Decoder speed on the real SmolLM2-135M-Instruct (GGUF, dequantized): prefill
// and incremental-decode tokens/s in fp32 and bf16, with the achieved GFLOP/s
// (~2 FLOPs per parameter per token) to set beside bench_gemm's peak.
// Needs the model in $E2LLM_MODEL_CACHE (scripts/fetch_models.sh); skipped otherwise.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "e2llm/decoder/decoder.h"
#include "e2llm/core/runtime.h"

namespace {

std::string model_path() {
  const char* cache = std::getenv("E2LLM_MODEL_CACHE");
  const char* home = std::getenv("HOME");
  std::string dir = cache ? cache : std::string(home ? home : "/tmp") + "/.cache/e2llm/models";
  return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Loaded once per dtype for all benchmarks.
e2llm::CausalLM model(torch::ScalarType dtype) {
  static std::map<torch::ScalarType, e2llm::CausalLM> models;
  auto& lm = models[dtype];
  if (!lm) {
    e2llm::DecoderOptions options;
    options.dtype = dtype;
    lm = e2llm::load_causal_lm(model_path(), options);
    lm->eval();
  }
  return lm;
}

double parameter_count(e2llm::CausalLMImpl& lm) {
  double n = 0;
  for (const auto& p : lm.parameters()) n += p.numel();
  for (const auto& b : lm.buffers()) n += b.numel();
  return n;
}

std::vector<int64_t> prompt_ids(int64_t n, int64_t vocab) {
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = (i * 7919 + 13) % vocab;
  return ids;
}

bool skip_without_model(benchmark::State& state) {
  if (std::filesystem::exists(model_path())) return false;
  state.SkipWithError(("model not fetched: " + model_path() + " (run scripts/fetch_models.sh)").c_str());
  return true;
}

void report(benchmark::State& state, double tokens, double params) {
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * params * tokens, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_Prefill(benchmark::State& state, torch::ScalarType dtype) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto lm = model(dtype);
  const int64_t n = state.range(0);
  const auto ids = prompt_ids(n, lm->vocab_size());
  e2llm::KvCache cache = lm->new_cache(1, n);
  for (auto _ : state) {
    cache.reset();
    benchmark::DoNotOptimize(lm->prefill({e2llm::Segment::tokens(ids)}, cache).data_ptr());
  }
  report(state, static_cast<double>(n) * state.iterations(), parameter_count(*lm));
}

// Decode steps after a prompt of range(0) tokens; each iteration decodes range(1) tokens.
void BM_Decode(benchmark::State& state, torch::ScalarType dtype) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto lm = model(dtype);
  const int64_t prompt = state.range(0), steps = state.range(1);
  const auto ids = prompt_ids(prompt, lm->vocab_size());
  e2llm::KvCache cache = lm->new_cache(1, prompt + steps);
  for (auto _ : state) {
    state.PauseTiming();
    cache.reset();
    torch::Tensor next = lm->prefill({e2llm::Segment::tokens(ids)}, cache).argmax(-1);
    state.ResumeTiming();
    for (int64_t i = 0; i < steps; ++i) next = lm->forward_step(next, cache).argmax(-1);
    benchmark::DoNotOptimize(next.data_ptr());
  }
  report(state, static_cast<double>(steps) * state.iterations(), parameter_count(*lm));
}

}  // namespace

BENCHMARK_CAPTURE(BM_Prefill, fp32, torch::kFloat32)->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, bf16, torch::kBFloat16)->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, fp32, torch::kFloat32)->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, bf16, torch::kBFloat16)->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  e2llm::set_threads(0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
