#include "e2llm/core/runtime.h"

#include <dlfcn.h>
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <torch/torch.h>

#include "e2llm/core/error.h"

extern "C" {
// OpenBLAS's own introspection (cblas.h would drag in a second BLAS header).
char* openblas_get_config(void);
int openblas_get_parallel(void);
}

namespace e2llm {

int hardware_threads() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string executable_dir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

void set_threads(int n) {
  if (n <= 0) n = hardware_threads();
  at::set_num_threads(n);
  omp_set_num_threads(n);
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.version = E2LLM_VERSION;
  info.torch_version = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                                   TORCH_VERSION_PATCH);
  info.blas = openblas_get_config();
  switch (openblas_get_parallel()) {
    case 0: info.blas_threading = "sequential"; break;
    case 1: info.blas_threading = "pthread"; break;
    case 2: info.blas_threading = "openmp"; break;
    default: info.blas_threading = "unknown";
  }
  Dl_info dl{};
  if (::dladdr(reinterpret_cast<void*>(&openblas_get_config), &dl) && dl.dli_fname)
    info.blas_library = dl.dli_fname;
  info.threads = at::get_num_threads();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  return info;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32") return torch::kFloat32;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  fail("--dtype: unknown '{}' (choose fp32 or bf16)", name);
}

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::kCPU;
  try {
    torch::Device device(spec);
    E2LLM_CHECK(!device.is_cuda() || torch::cuda::is_available(),
                "device '{}' requested but CUDA is not available in this build/machine", spec);
    return device;
  } catch (const c10::Error&) {
    fail("unknown device '{}' (expected auto, cpu, cuda or cuda:N)", spec);
  }
}

}  // namespace e2llm
