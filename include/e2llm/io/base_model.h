// Which frozen base model something was made with (a checkpoint, a stored
// document): a hash of its config and a fingerprint of its weights, so that
// a model moved to another folder or machine is still recognised and a
// different one is refused.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
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

// Throws e2llm::Error naming both identities when a saved base model is not
// the one given now (matched by role; a missing role is also an error).
void check_base_models(const std::vector<BaseModelIdentity>& saved,
                       const std::vector<BaseModelIdentity>& current);

}  // namespace e2llm
