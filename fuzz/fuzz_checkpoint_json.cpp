// libFuzzer target: the checkpoint.json parser (parse_checkpoint_json) on
// arbitrary bytes. It must either accept or throw e2llm::Error; what it
// accepts must format and parse back to the same checkpoint.json. Anything
// else (a crash, another exception, a sanitizer report) is a bug.
// fuzz-sources: src/io/checkpoint_json.cpp src/io/json_fields.cpp
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "e2llm/core/error.h"
#include "e2llm/io/checkpoint_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  e2llm::CheckpointJson c;
  try {
    c = e2llm::parse_checkpoint_json(std::string_view(reinterpret_cast<const char*>(data), size),
                                     "fuzz/checkpoint.json");
  } catch (const e2llm::Error&) {
    return 0;
  }
  if (c.step < 0) std::abort();
  for (const auto& [name, steps] : c.optimizer_steps)
    if (steps < 0) std::abort();
  // Formatting is a fixed point after one round (numbers such as 1e999 only
  // reach their stored form once).
  const std::string text = e2llm::format_checkpoint_json(c);
  const e2llm::CheckpointJson back = e2llm::parse_checkpoint_json(text, "round trip");
  if (back.step != c.step || back.optimizer_steps != c.optimizer_steps || back.data_rng_state != c.data_rng_state ||
      back.base_models.size() != c.base_models.size())
    std::abort();
  if (e2llm::format_checkpoint_json(back) != text) std::abort();
  return 0;
}
