// Which pooling E2LLM applies to a chunk's token states (see pooling.h for
// what each mode computes). Torch-free: E2llmConfig's JSON reader needs it.
#pragma once
#include <cstdint>
#include <string>

namespace e2llm {

enum class PoolingMode { kCls, kMean, kSegments, kAttention };

PoolingMode parse_pooling_mode(const std::string& name);  // cls, mean, segments, attention
std::string pooling_mode_name(PoolingMode mode);

struct PoolingConfig {
  PoolingMode mode = PoolingMode::kMean;
  int64_t k = 1;          // vectors per chunk (segments, attention); 1 for cls and mean
  int64_t heads = 8;      // attention pooling heads; must divide the hidden size
  bool normalize = false;
  void validate(int64_t hidden_size) const;
};

}  // namespace e2llm
