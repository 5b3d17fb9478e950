// checkpoint.json and the JSON form of BaseModelIdentity: torch-free (the
// weight hashing of base models is in base_model.cpp). Fields are read with
// the checked readers of io/json_fields.h.
#include "e2llm/io/checkpoint_json.h"

#include <limits>

#include "e2llm/core/error.h"
#include "io/json_fields.h"

namespace e2llm {
namespace {

constexpr const char* kFormat = "e2llm-checkpoint";
constexpr int64_t kMaxCount = std::numeric_limits<int64_t>::max();

BaseModelIdentity read_base_model(const nlohmann::json& j, const json_fields::Where& where) {
  json_fields::require_object(j, where);
  return {json_fields::required<std::string>(j, "role", where), json_fields::value_or<std::string>(j, "path", "", where),
          json_fields::required<std::string>(j, "config_hash", where),
          json_fields::required<std::string>(j, "weight_fingerprint", where)};
}

}  // namespace

std::string BaseModelIdentity::describe() const {
  return fmt::format("{} at {} (config {}, weights {})", role, path, config_hash, weight_fingerprint);
}

nlohmann::json BaseModelIdentity::to_json() const {
  return {{"role", role}, {"path", path}, {"config_hash", config_hash}, {"weight_fingerprint", weight_fingerprint}};
}

BaseModelIdentity BaseModelIdentity::from_json(const nlohmann::json& j) {
  return read_base_model(j, json_fields::Where("checkpoint: base model entry"));
}

std::string format_checkpoint_json(const CheckpointJson& c) {
  nlohmann::json bases = nlohmann::json::array();
  for (const auto& b : c.base_models) bases.push_back(b.to_json());
  const nlohmann::json j = {{"format", kFormat},
                            {"format_version", kCheckpointFormatVersion},
                            {"step", c.step},
                            {"config", c.config},
                            {"base_models", bases},
                            {"optimizer_steps", c.optimizer_steps},
                            {"data_rng_state", c.data_rng_state},
                            {"extra", c.extra}};
  return j.dump(2) + "\n";
}

CheckpointJson parse_checkpoint_json(std::string_view text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999999
    fail("{}: invalid JSON: {}", origin, e.what());
  }
  const json_fields::Where where(origin);
  json_fields::require_object(j, where);
  E2LLM_CHECK(json_fields::value_or<std::string>(j, "format", "", where) == kFormat,
              "{}: not an e2llm checkpoint (\"format\" is not \"{}\")", origin, kFormat);
  const int64_t version = json_fields::required<int64_t>(j, "format_version", where);
  E2LLM_CHECK(version == kCheckpointFormatVersion, "{}: format_version {} is not supported (expected {})", origin,
              version, kCheckpointFormatVersion);

  CheckpointJson c;
  c.step = json_fields::read_integer(json_fields::field(j, "step", where), where.key("step"), 0, kMaxCount);
  if (const nlohmann::json* v = json_fields::find(j, "config", where)) {
    json_fields::require_object(*v, where.key("config"));
    c.config = *v;
  }
  if (json_fields::find(j, "base_models", where)) {
    const nlohmann::json& bases = json_fields::array_field(j, "base_models", where);
    for (size_t i = 0; i < bases.size(); ++i)
      c.base_models.push_back(read_base_model(bases[i], where.key("base_models").index(i)));
  }
  if (const nlohmann::json* v = json_fields::find(j, "optimizer_steps", where)) {
    json_fields::require_object(*v, where.key("optimizer_steps"));
    for (const auto& [name, count] : v->items())
      c.optimizer_steps[name] = json_fields::read_integer(count, where.key("optimizer_steps").key(name), 0, kMaxCount);
  }
  c.data_rng_state = json_fields::value_or<std::string>(j, "data_rng_state", "", where);
  if (const nlohmann::json* v = json_fields::find(j, "extra", where)) {
    json_fields::require_object(*v, where.key("extra"));
    c.extra = *v;
  }
  return c;
}

}  // namespace e2llm
