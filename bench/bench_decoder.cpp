// Decoder speed on the real SmolLM2-135M-Instruct (GGUF): prefill and
// incremental-decode tokens/s with the quantized kernels and dequantized to
// fp32 and bf16, with the achieved GFLOP/s (~2 FLOPs per parameter per token)
// to set beside bench_gemm's peak and the weight bytes read per second to set
// beside bench_bandwidth's.
// Needs the model in $E2LLM_MODEL_CACHE (scripts/fetch_models.sh); skipped otherwise.
// Threads: $E2LLM_BENCH_THREADS, else every core.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <ATen/record_function.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include "e2llm/decoder/decoder.h"
#include "e2llm/io/model_cache.h"
#include "e2llm/io/gguf.h"
#include "e2llm/io/weights.h"
#include "e2llm/nn/lora.h"
#include "e2llm/nn/quantized_matmul.h"
#include "e2llm/core/runtime.h"

namespace {

// $E2LLM_BENCH_MODEL (a .gguf path), else SmolLM2 from the model cache.
std::string model_path() {
  if (const char* chosen = std::getenv("E2LLM_BENCH_MODEL")) return chosen;
  return e2llm::model_cache_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Loaded once per --weights choice (float32, bfloat16, quantized) for all
// benchmarks; "<weights>+lora" adds what an E2LLM decoder carries when it
// answers: rank-8 LoRA on all seven projections of every layer, B nonzero.
e2llm::CausalLM model(const std::string& weights) {
  static std::map<std::string, e2llm::CausalLM> models;
  auto& lm = models[weights];
  if (!lm) {
    const auto plus = weights.find('+');
    const std::string base = weights.substr(0, plus);
    lm = e2llm::load_causal_lm(model_path(), e2llm::decoder_options_for(base, model_path()));
    lm->eval();
    if (plus != std::string::npos) {
      e2llm::nn::LoraConfig lora;
      lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
      e2llm::nn::apply_lora(*lm, lora);
      torch::NoGradGuard no_grad;
      for (auto& [name, linear] : e2llm::nn::named_linears(*lm))
        if (linear->has_lora()) linear->lora_B->weight.normal_(0, 1e-3);
    }
  }
  return lm;
}

// Parameters, and the bytes of weights one decoded token reads: every matrix
// once (the tied embedding as the output head), in the file's block types
// when quantized, else 4 or 2 bytes per value.
struct WeightSize {
  double parameters = 0, bytes = 0;
};

WeightSize weight_size(const std::string& weights) {
  auto file = e2llm::GgufFile::open(model_path());
  WeightSize s;
  for (const auto& t : file->tensors()) {
    s.parameters += static_cast<double>(t.n_elements);
    s.bytes += weights == "quantized" ? static_cast<double>(t.n_bytes)
                                      : static_cast<double>(t.n_elements) * (weights == "bfloat16" ? 2 : 4);
  }
  return s;
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

void report(benchmark::State& state, double tokens, const WeightSize& size) {
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * size.parameters * tokens / 1e9, benchmark::Counter::kIsRate);
  state.counters["weights_GB/s"] = benchmark::Counter(size.bytes * tokens / 1e9, benchmark::Counter::kIsRate);
}

void BM_Prefill(benchmark::State& state, const std::string& weights) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto lm = model(weights);
  const int64_t n = state.range(0);
  const auto ids = prompt_ids(n, lm->vocab_size());
  e2llm::KvCache cache = lm->new_cache(1, n);
  for (auto _ : state) {
    cache.reset();
    benchmark::DoNotOptimize(lm->prefill({e2llm::Segment::tokens(ids)}, cache).data_ptr());
  }
  report(state, static_cast<double>(n) * state.iterations(), weight_size(weights));
}

// Decode steps after a prompt of range(0) tokens; each iteration decodes range(1) tokens.
void BM_Decode(benchmark::State& state, const std::string& weights) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto lm = model(weights);
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
  report(state, static_cast<double>(steps) * state.iterations(), weight_size(weights.substr(0, weights.find('+'))));
}

// LibTorch operations dispatched per decoded token, by name (not a timing):
// outside the kernels a decoding step's cost is mostly this count times the
// dispatcher's ~1 µs each, so it shows what an overhead change removed
// without the VM's timing noise. Counted by a RecordFunction callback.
std::mutex op_mutex;
std::map<std::string, int64_t> op_counts;

std::unique_ptr<at::ObserverContext> count_op(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(op_mutex);
  ++op_counts[fn.name()];
  return nullptr;
}

void BM_DecodeOps(benchmark::State& state, const std::string& weights) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto lm = model(weights);
  const int64_t prompt = 128, steps = 8;
  const auto ids = prompt_ids(prompt, lm->vocab_size());
  e2llm::KvCache cache = lm->new_cache(1, prompt + steps);
  for (auto _ : state) {
    cache.reset();
    torch::Tensor next = lm->prefill({e2llm::Segment::tokens(ids)}, cache).argmax(-1);
    op_counts.clear();
    const auto handle = at::addGlobalCallback(
        at::RecordFunctionCallback(count_op).scopes({at::RecordScope::FUNCTION}));
    for (int64_t i = 0; i < steps; ++i) next = lm->forward_step(next, cache).argmax(-1);
    at::removeCallback(handle);
  }
  int64_t total = 0;
  for (const auto& [name, count] : op_counts) {
    total += count;
    if (count >= steps * 10) state.counters[name] = static_cast<double>(count) / steps;
  }
  state.counters["ops/token"] = static_cast<double>(total) / steps;
}

// The quantized kernels alone: every 2-D quantized matrix of the file (the
// embedding as the output head included) times one token's activations, as
// one decoded token does, without the rest of the layer. Its weights_GB/s
// against bench_bandwidth is the kernels' share of the memory limit; the gap
// to BM_Decode/quantized is everything else in a decoding step. The
// counters <type>_ms say how the time splits over the block types.
void BM_QuantizedMatvecs(benchmark::State& state) {
  if (skip_without_model(state)) return;
  torch::InferenceMode inference;
  auto weights = e2llm::open_weights(model_path());
  std::map<std::string, std::vector<e2llm::QuantizedTensor>> by_type;
  for (const auto& name : weights->names())
    if (auto q = weights->quantized(name); q && e2llm::nn::quantized_matmul_supports(q->type))
      by_type[e2llm::ggml_type_traits(q->type).name].push_back(*q);
  std::map<int64_t, torch::Tensor> inputs;
  for (const auto& [type, matrices] : by_type)
    for (const auto& m : matrices)
      if (!inputs.count(m.cols)) inputs[m.cols] = torch::randn({1, m.cols});
  std::map<std::string, double> seconds;
  for (auto _ : state)
    for (const auto& [type, matrices] : by_type) {
      const auto start = std::chrono::steady_clock::now();
      for (const auto& m : matrices)
        benchmark::DoNotOptimize(e2llm::nn::quantized_linear(inputs[m.cols], m).data_ptr());
      seconds[type] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  report(state, static_cast<double>(state.iterations()), weight_size("quantized"));
  for (const auto& [type, s] : seconds)
    state.counters[type + "_ms"] = 1e3 * s / static_cast<double>(state.iterations());
}

}  // namespace

BENCHMARK_CAPTURE(BM_Prefill, quantized, std::string("quantized"))->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, fp32, std::string("float32"))->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, bf16, std::string("bfloat16"))->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, quantized, std::string("quantized"))->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, quantized_lora, std::string("quantized+lora"))->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_DecodeOps, quantized, std::string("quantized"))->Iterations(1);
BENCHMARK_CAPTURE(BM_DecodeOps, quantized_lora, std::string("quantized+lora"))->Iterations(1);
BENCHMARK_CAPTURE(BM_Decode, fp32, std::string("float32"))->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, bf16, std::string("bfloat16"))->Args({128, 32})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  // $E2LLM_BENCH_THREADS, else every core (bench/quantized_decoding.sh passes its THREADS).
  const char* threads = std::getenv("E2LLM_BENCH_THREADS");
  e2llm::set_threads(threads ? std::atoi(threads) : 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
BENCHMARK(BM_QuantizedMatvecs)->Unit(benchmark::kMillisecond)->UseRealTime();
