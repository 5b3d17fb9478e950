// e2llm info: what this build runs on.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "command.h"
#include "e2llm/core/cpu_features.h"
#include "e2llm/core/runtime.h"
#include "e2llm/nn/quantized_matmul.h"

namespace e2llm::cli {
namespace {

void run_info(bool as_json) {
  RuntimeInfo info = runtime_info();
  if (as_json) {
    nlohmann::json j = {{"version", info.version},
                        {"libtorch", info.torch_version},
                        {"blas", info.blas},
                        {"blas_threading", info.blas_threading},
                        {"blas_library", info.blas_library},
                        {"threads", info.threads},
                        {"cpu_features", cpu_feature_list()},
                        {"bf16_matmul", bf16_matmul_native() ? "native" : "float32"},
                        {"quantized_kernel", nn::quant_kernel_name(nn::resolved_quant_kernel())},
                        {"cuda_available", info.cuda_available},
                        {"cuda_devices", info.cuda_devices}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("e2llm      %s\n", info.version.c_str());
  std::printf("LibTorch   %s\n", info.torch_version.c_str());
  std::printf("BLAS       %s (%s threading)\n", info.blas.c_str(), info.blas_threading.c_str());
  std::printf("BLAS lib   %s\n", info.blas_library.c_str());
  std::printf("threads    %d\n", info.threads);
  std::printf("CPU        %s\n", cpu_feature_list().c_str());
  std::printf("bf16 GEMM  %s\n", bf16_matmul_native() ? "native (oneDNN)" : "computed in float32 (LibTorch has no fast bf16 GEMM for this CPU)");
  std::printf("quantized  %s kernels for GGUF weights (E2LLM_QUANT_KERNEL=portable|avx2|avx512 overrides)\n",
              nn::quant_kernel_name(nn::resolved_quant_kernel()).c_str());
  std::printf("CUDA       %s\n", info.cuda_available
                                     ? fmt::format("available, {} device(s)", info.cuda_devices).c_str()
                                     : "not available");
}

CommandRegistrar registrar("info", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show version, LibTorch, BLAS, threads and CUDA status");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *as_json, "Print JSON");
  cmd->callback([as_json] { run_info(*as_json); });
});

}  // namespace
}  // namespace e2llm::cli
