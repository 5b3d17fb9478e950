// Process-wide runtime settings: threads, device, and what BLAS is in use.
#pragma once
#include <string>
#include <torch/types.h>

namespace e2llm {

struct RuntimeInfo {
  std::string version;         // e2llm
  std::string torch_version;   // LibTorch it was built against
  std::string blas;            // openblas_get_config(), or what was found
  std::string blas_threading;  // "openmp", "pthread", "sequential", "unknown"
  std::string blas_library;    // path of the loaded libopenblas
  int threads = 1;             // at::get_num_threads()
  bool cuda_available = false;
  int cuda_devices = 0;
};

// All cores by default (LibTorch starts with 1 thread here). n <= 0 = all cores.
void set_threads(int n);
int hardware_threads();
// The folder of the running executable (/proc/self/exe), or "." when unknown.
std::string executable_dir();
RuntimeInfo runtime_info();

// "auto" -> cuda when available else cpu; "cpu"; "cuda"; "cuda:N".
torch::Device parse_device(const std::string& spec);

// --dtype of the decoder commands: "fp32" / "float32" or "bf16" / "bfloat16".
torch::ScalarType parse_dtype(const std::string& name);

}  // namespace e2llm
