// Pooling modes by name and the configuration check: torch-free, so that
// E2llmConfig's JSON reader (and its fuzzer) need no LibTorch.
#include "e2llm/compress/pooling_config.h"

#include "e2llm/core/error.h"

namespace e2llm {

PoolingMode parse_pooling_mode(const std::string& name) {
  if (name == "cls") return PoolingMode::kCls;
  if (name == "mean") return PoolingMode::kMean;
  if (name == "segments") return PoolingMode::kSegments;
  if (name == "attention" || name == "pma") return PoolingMode::kAttention;
  fail("unknown pooling '{}'; known: cls, mean, segments, attention", name);
}

std::string pooling_mode_name(PoolingMode mode) {
  switch (mode) {
    case PoolingMode::kCls: return "cls";
    case PoolingMode::kMean: return "mean";
    case PoolingMode::kSegments: return "segments";
    case PoolingMode::kAttention: return "attention";
  }
  return "?";
}

void PoolingConfig::validate(int64_t hidden_size) const {
  E2LLM_CHECK(k >= 1, "pooling k must be >= 1, got {}", k);
  const bool single = mode == PoolingMode::kCls || mode == PoolingMode::kMean;
  E2LLM_CHECK(!single || k == 1, "{} pooling gives one vector per chunk; k must be 1, got {} "
              "(use segments or attention for k > 1)", pooling_mode_name(mode), k);
  if (mode == PoolingMode::kAttention)
    E2LLM_CHECK(heads >= 1 && hidden_size % heads == 0,
                "attention pooling heads ({}) must divide the hidden size ({})", heads, hidden_size);
}

}  // namespace e2llm
