// Matrix products over GGUF's block-quantized weights as they lie in the
// memory-mapped file (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), so a
// quantized decoder reads 4–8 bits per weight per token instead of 32.
//
// A few tokens at a time (decoding): the activations are quantized to int16
// in blocks of 32 on the fly and each weight block is multiplied as integers
// (AVX-512, AVX2, or portable C++; chosen at run time), then scaled in float.
// The result differs from dequantize-then-matmul in float32 by at most the
// activations' rounding: half an int16 step of each 32-value block.
// Many tokens (prefill): the weights are dequantized a tile of rows at a time
// into a float32 scratch and multiplied by the BLAS; the result then equals
// the float32 path up to summation order.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "e2llm/io/weights.h"

namespace e2llm::nn {

enum class QuantKernel {
  kAuto,        // the best path this CPU has
  kPortable,    // plain C++ (any CPU)
  kAvx2,        // AVX2 integer dot products
  kAvx512,      // AVX-512 (BW) integer dot products
};

// The path quantized_linear() takes. The first call reads E2LLM_QUANT_KERNEL
// (auto, portable, avx2, avx512) when set; set_quant_kernel() overrides it.
// Asking for a path the CPU lacks is an error naming the missing extension.
void set_quant_kernel(QuantKernel kernel);
QuantKernel quant_kernel();            // as set (may be kAuto)
QuantKernel resolved_quant_kernel();   // what kAuto means on this CPU
std::string quant_kernel_name(QuantKernel kernel);

// Whether quantized_linear() handles tensors of this type.
bool quantized_matmul_supports(GgmlType type);

// x [..., w.cols] (float32 or bfloat16) -> x · Wᵀ [..., w.rows] in float32.
// Inference only: no gradient flows through it.
torch::Tensor quantized_linear(const torch::Tensor& x, const QuantizedTensor& w);

// x · Wᵢᵀ for several matrices of the same width at once (q/k/v, gate/up): the
// activations are quantized once and one parallel region covers every row.
// Each result equals quantized_linear(x, *ws[i]).
std::vector<torch::Tensor> quantized_linears(const torch::Tensor& x, const std::vector<const QuantizedTensor*>& ws);

// Rows `ids` (int64, any shape) of w dequantized: [ids..., w.cols] float32
// (an embedding lookup).
torch::Tensor quantized_rows(const QuantizedTensor& w, const torch::Tensor& ids);

// Tokens per call from which quantized_linear() dequantizes tiles for the BLAS
// instead of running the integer kernels.
constexpr int64_t kQuantizedTiledFromTokens = 16;

}  // namespace e2llm::nn
