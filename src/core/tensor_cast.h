// Conversions that skip the dispatcher when there is nothing to convert. A
// no-op Tensor::to() still costs a dispatched call (~1 µs); a decoding step
// made ~18 of them per layer (docs/decoder.md, "Per call"). Internal to the library.
#pragma once
#include <torch/types.h>

namespace e2llm {

inline torch::Tensor as_type(const torch::Tensor& x, torch::ScalarType type) {
  return x.scalar_type() == type ? x : x.to(type);
}

inline torch::Tensor as_cpu_type(const torch::Tensor& x, torch::ScalarType type) {
  return x.device().is_cpu() && x.scalar_type() == type ? x : x.to(torch::kCPU, type);
}

}  // namespace e2llm
