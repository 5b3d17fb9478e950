// libFuzzer target: a training config's "model" (E2llmConfig) and "training"
// (TrainOptions) sections on arbitrary bytes; an input without those keys is
// given to both readers whole. Any outcome other than a validated config or
// e2llm::Error is a bug; a config read must survive to_json() / from_json().
// fuzz-sources: src/e2llm/e2llm_config.cpp src/train/train_options.cpp src/compress/pooling_config.cpp src/io/json_fields.cpp
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "e2llm/core/error.h"
#include "e2llm/e2llm/e2llm_config.h"
#include "e2llm/train/train_options.h"

namespace {

const nlohmann::json& section(const nlohmann::json& j, const char* name) {
  return j.is_object() && j.contains(name) ? j[name] : j;
}

template <typename Config>
void read_and_round_trip(const nlohmann::json& j) {
  Config c;
  try {
    c = Config::from_json(j, "fuzz.json");
  } catch (const e2llm::Error&) {
    return;
  }
  const nlohmann::json written = c.to_json();
  if (Config::from_json(written, "round trip").to_json() != written) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  read_and_round_trip<e2llm::E2llmConfig>(section(j, "model"));
  read_and_round_trip<e2llm::TrainOptions>(section(j, "training"));
  try {
    const e2llm::TrainOptions o = e2llm::TrainOptions::from_json(section(j, "training"), "fuzz.json");
    for (int64_t step : {int64_t{0}, o.warmup_steps, o.max_steps}) (void)e2llm::learning_rate_at(o, step);
  } catch (const e2llm::Error&) {
  }
  return 0;
}
