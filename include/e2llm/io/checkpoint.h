// Training checkpoints: only what training changed (trainable weights,
// optimizer moments, RNG states, step) plus the config and the identity of
// the frozen base models they belong to. Never the base weights themselves.
//
// Layout of a checkpoint root folder:
//   root/latest                      name of the newest complete checkpoint
//   root/step-00000100/checkpoint.json       step, config, base models, RNG, optimizer steps
//                                            (io/checkpoint_json.h)
//   root/step-00000100/trainable.safetensors parameter name -> tensor
//   root/step-00000100/optimizer.safetensors "<name>.exp_avg", "<name>.exp_avg_sq",
//                                            "__rng__.torch_cpu" (uint8 generator state);
//                                            absent in an exported model (no optimizer state)
// A checkpoint is written into a temporary folder and renamed into place, and
// `latest` is replaced atomically afterwards: a crash (or a NaN stop) always
// leaves the previous checkpoint complete and pointed at.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "e2llm/io/base_model.h"

namespace e2llm {

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
// the other step folders but the newest `keep_last - 1` (the step written is
// kept whatever its number). Returns the folder.
std::string save_checkpoint(const std::string& root, const TrainingState& state, int keep_last = 2);

// `path` is a checkpoint root (follows `latest`) or one step folder.
// Tensors are owned copies (not views of the file).
TrainingState load_checkpoint(const std::string& path);

// The config recorded in a checkpoint (same `path` rules), without reading any
// tensor: for callers that only need settings, such as a model's answer defaults.
nlohmann::json load_checkpoint_config(const std::string& path);

// The folder `latest` points at under root, or "" when there is none.
std::string latest_checkpoint(const std::string& root);

// The step folder `path` names: path itself when it holds checkpoint.json,
// else the folder its `latest` points at; an error naming path when neither.
std::string checkpoint_folder(const std::string& path);

// Copies `from` into the tensors of `into` by name, strictly: a name missing
// from `from`, a shape that differs or a name in `from` that `into` lacks is
// an error naming `what` and the tensor. (Loading an E2LLM checkpoint and
// resuming training both restore state this way.)
void copy_named_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& into,
                        const std::map<std::string, torch::Tensor>& from, const std::string& what);

}  // namespace e2llm
