// The hardware's measured limit that every other figure is compared against:
// dense GEMM throughput through LibTorch (OpenBLAS / oneDNN) in fp32 and bf16.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "e2llm/core/runtime.h"

static void BM_Gemm(benchmark::State& state, torch::ScalarType dtype) {
  const int64_t n = state.range(0);
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}).to(dtype);
  auto b = torch::randn({n, n}).to(dtype);
  for (auto _ : state) {
    auto c = torch::mm(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * state.iterations(),
                                                 benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK_CAPTURE(BM_Gemm, fp32, torch::kFloat32)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gemm, bf16, torch::kBFloat16)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  e2llm::set_threads(0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
