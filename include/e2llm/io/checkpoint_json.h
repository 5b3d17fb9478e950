// checkpoint.json, the text part of a training checkpoint (see checkpoint.h
// for the folder layout): step, config, base models, optimizer step counts,
// the data-order RNG state and extra metrics. Torch-free, so that the parser
// can be fuzzed on its own (fuzz/fuzz_checkpoint_json.cpp).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "e2llm/io/base_model.h"

namespace e2llm {

inline constexpr int kCheckpointFormatVersion = 1;

struct CheckpointJson {
  int64_t step = 0;                                  // optimizer steps taken (>= 0)
  nlohmann::json config = nlohmann::json::object();  // model + training config
  std::vector<BaseModelIdentity> base_models;
  std::map<std::string, int64_t> optimizer_steps;    // AdamW step count by parameter name (>= 0)
  std::string data_rng_state;                        // the trainer's data-order RNG, as text
  nlohmann::json extra = nlohmann::json::object();   // e.g. last metrics
};

// The text of checkpoint.json: {"format": "e2llm-checkpoint", "format_version",
// "step", "config", "base_models", "optimizer_steps", "data_rng_state",
// "extra"}, pretty-printed, ending in a newline.
std::string format_checkpoint_json(const CheckpointJson& checkpoint);

// Parses and checks the text of a checkpoint.json. "format", "format_version"
// and "step" are required, the rest optional. Anything malformed throws
// e2llm::Error naming `origin` (the file) and the field.
CheckpointJson parse_checkpoint_json(std::string_view text, const std::string& origin);

}  // namespace e2llm
