// What the CPU offers the compute kernels, detected once at run time.
#pragma once
#include <string>

namespace e2llm {

// The SIMD extensions the kernels care about, e.g. "avx2 fma".
std::string cpu_feature_list();

// Whether bfloat16 matrix products run at bf16 speed on this CPU. LibTorch
// 1.13 routes them to oneDNN only on AVX-512 (BW/VL/DQ) CPUs; elsewhere it
// falls back to scalar loops ~60x slower than its float32 GEMM, so on those
// CPUs nn::Linear computes bf16 layers in float32 (the weights stay bf16).
// E2LLM_BF16_MATMUL=native|float32 overrides the detection.
bool bf16_matmul_native();

}  // namespace e2llm
