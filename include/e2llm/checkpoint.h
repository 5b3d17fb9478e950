// Training checkpoints: only what training changed (trainable weights,
// optimizer moments, RNG states, step) plus the config and the identity of
// the frozen base models they belong to. Never the base weights themselves.
//
// Layout of a checkpoint root folder:
//   root/latest                      name of the newest complete checkpoint
//   root/step-00000100/checkpoint.json       step, config, base models, RNG, optimizer steps
//   root/step-00000100/trainable.safetensors parameter name -> tensor
//   root/step-00000100/optimizer.safetensors "<name>.exp_avg", "<name>.exp_avg_sq",
//                                            "__rng__.torch_cpu" (uint8 generator state)
// A checkpoint is written into a temporary folder and renamed into place, and
// `latest` is replaced atomically afterwards: a crash (or a NaN stop) always
// leaves the previous checkpoint complete and pointed at.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace e2llm {

class Weights;

// Which frozen model a checkpoint was trained on. Two identities are the same
// model when the config hash and the weight fingerprint agree (the path may
// differ: models move between machines).
struct BaseModelIdentity {
  std::string role;                // "encoder", "decoder", ...
  std::string path;                // where it was loaded from
  std::string config_hash;         // 16 hex digits
  std::string weight_fingerprint;  // 16 hex digits

  bool same_model(const BaseModelIdentity& other) const {
    return config_hash == other.config_hash && weight_fingerprint == other.weight_fingerprint;
  }
  std::string describe() const;  // "decoder at PATH (config …, weights …)"
  nlohmann::json to_json() const;
  static BaseModelIdentity from_json(const nlohmann::json& j);
};

// Hashes `config` (as compact JSON) and the names, shapes and dtypes of every
// tensor plus the values of three fixed tensors (first, middle and last name
// in sorted order, converted to float32).
BaseModelIdentity identify_base_model(const std::string& role, const std::string& path,
                                      const Weights& weights, const nlohmann::json& config);

// 64-bit FNV-1a as 16 hex digits.
std::string fnv1a_hex(const void* data, size_t size, uint64_t seed = 14695981039346656037ull);

struct TrainingState {
  int64_t step = 0;  // optimizer steps taken
  nlohmann::json config = nlohmann::json::object();  // model + training config
  std::vector<BaseModelIdentity> base_models;
  std::map<std::string, torch::Tensor> trainable;  // by parameter name
  // AdamW moments by "<name>.exp_avg" / "<name>.exp_avg_sq", and its step
  // count by parameter name (absent: the parameter has not been stepped yet).
  std::map<std::string, torch::Tensor> optimizer;
  std::map<std::string, int64_t> optimizer_steps;
  torch::Tensor torch_rng_state;  // CPU generator state (uint8)
  std::string data_rng_state;     // the trainer's data-order RNG, as text
  nlohmann::json extra = nlohmann::json::object();  // e.g. last metrics
};

// Writes root/step-<step>/ atomically, points root/latest at it and removes
// older step folders beyond the newest `keep_last`. Returns the folder.
std::string save_checkpoint(const std::string& root, const TrainingState& state, int keep_last = 2);

// `path` is a checkpoint root (follows `latest`) or one step folder.
// Tensors are owned copies (not views of the file).
TrainingState load_checkpoint(const std::string& path);

// The folder `latest` points at under root, or "" when there is none.
std::string latest_checkpoint(const std::string& root);

// Throws e2llm::Error naming both identities when a saved base model is not
// the one given now (matched by role; a missing role is also an error).
void check_base_models(const std::vector<BaseModelIdentity>& saved,
                       const std::vector<BaseModelIdentity>& current);

}  // namespace e2llm
