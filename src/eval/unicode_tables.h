// Unicode property tables generated from Python 3.11 by
// scripts/golden/make_metric_golden.py, so that the metrics treat text exactly
// as the Python reference implementations do (see unicode_text.h).
#pragma once
#include <cstddef>
#include <cstdint>

namespace e2llm::unicode_tables {

struct LowerMapping {
  uint32_t code_point, first, second;  // second == 0: one-character lowercase
};
struct CodeRange {
  uint32_t first, last;  // inclusive
};

extern const LowerMapping kLower[];
extern const size_t kLower_size;
extern const CodeRange kWord[];
extern const size_t kWord_size;
extern const CodeRange kSpace[];
extern const size_t kSpace_size;
extern const CodeRange kCaseIgnorable[];
extern const size_t kCaseIgnorable_size;
extern const CodeRange kCased[];
extern const size_t kCased_size;

}  // namespace e2llm::unicode_tables
