// A LoRA adapter's side path for a few float32 rows at inference (decoding):
// y += scaling · (x·Aᵀ)·Bᵀ on raw memory, in place. Through ATen this costs
// five dispatched operations and two allocations per adapted layer, several
// times the arithmetic (rank 8: ~9K multiply-adds for a 576-wide layer);
// on a decoder with all seven projections adapted that was 4.5 ms of a
// SmolLM2 token against ~7 ms for everything else. Internal to the library.
#pragma once
#include <cstdint>

namespace e2llm::nn::detail {

enum class SidePathKernel { kPortable, kAvx2 };

// kAvx2 when the CPU has AVX2, FMA and F16C, else kPortable.
SidePathKernel best_side_path_kernel();

// Rows of the input from which the BLAS (one matrix product each way) is the
// better path.
constexpr int64_t kSidePathMaxRows = 8;

// x [rows, in], a [rank, in], b [out, rank], y [rows, out]: all dense
// row-major float32. Sums in float32 in another order than the BLAS, so the
// result equals the matrix-product form up to rounding.
void add_lora_side_path(const float* x, int64_t rows, int64_t in, const float* a, int64_t rank, const float* b,
                        int64_t out, float scaling, float* y, SidePathKernel kernel);

}  // namespace e2llm::nn::detail
