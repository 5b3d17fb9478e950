#include "e2llm/core/cpu_features.h"

#include <cstdlib>

#include "e2llm/core/error.h"

namespace e2llm {

std::string cpu_feature_list() {
  std::string out;
  auto add = [&](const char* name, bool present) {
    if (!present) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add("avx2", __builtin_cpu_supports("avx2"));
  add("fma", __builtin_cpu_supports("fma"));
  add("avx512f", __builtin_cpu_supports("avx512f"));
  add("avx512bw", __builtin_cpu_supports("avx512bw"));
  add("avx512bf16", __builtin_cpu_supports("avx512bf16"));
  return out.empty() ? "none of avx2/fma/avx512" : out;
}

namespace {
bool detect_bf16_matmul() {
  if (const char* forced = std::getenv("E2LLM_BF16_MATMUL")) {
    const std::string value = forced;
    if (value == "native") return true;
    if (value == "float32") return false;
    fail("E2LLM_BF16_MATMUL='{}': expected native or float32", value);
  }
  // The condition of LibTorch 1.13's mkldnn_bf16_device_check().
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
}
}  // namespace

bool bf16_matmul_native() {
  static const bool native = detect_bf16_matmul();
  return native;
}

}  // namespace e2llm
