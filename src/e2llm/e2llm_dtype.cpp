// torch_dtype() apart from e2llm_config.cpp, which stays torch-free for its fuzzer.
#include "e2llm/e2llm/e2llm_model.h"

namespace e2llm {

torch::ScalarType torch_dtype(const E2llmConfig& config) {
  return config.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
}

}  // namespace e2llm
