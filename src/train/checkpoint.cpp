// Checkpoint folders: write into a temp folder, rename into place, then move
// the `latest` pointer. See include/e2llm/checkpoint.h for the layout.
#include "e2llm/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "e2llm/error.h"
#include "e2llm/fs.h"
#include "e2llm/safetensors.h"
#include "e2llm/weights.h"

namespace fs = std::filesystem;

namespace e2llm {
namespace {

constexpr int kFormatVersion = 1;
constexpr const char* kRngKey = "__rng__.torch_cpu";

uint64_t fnv1a(const void* data, size_t size, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t fnv1a(std::string_view s, uint64_t h) { return fnv1a(s.data(), s.size(), h); }

std::string hex64(uint64_t h) { return fmt::format("{:016x}", h); }

std::string step_folder_name(int64_t step) { return fmt::format("step-{:08d}", step); }

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

nlohmann::json state_json(const TrainingState& s) {
  nlohmann::json bases = nlohmann::json::array();
  for (const auto& b : s.base_models) bases.push_back(b.to_json());
  return {{"format", "e2llm-checkpoint"},     {"format_version", kFormatVersion},
          {"step", s.step},                   {"config", s.config},
          {"base_models", bases},             {"optimizer_steps", s.optimizer_steps},
          {"data_rng_state", s.data_rng_state}, {"extra", s.extra}};
}

std::map<std::string, torch::Tensor> optimizer_tensors(const TrainingState& s) {
  std::map<std::string, torch::Tensor> out = s.optimizer;
  if (s.torch_rng_state.defined()) out[kRngKey] = s.torch_rng_state;
  return out;
}

void write_state_files(const std::string& folder, const TrainingState& s) {
  save_safetensors(folder + "/trainable.safetensors", s.trainable, {{"format", "pt"}});
  save_safetensors(folder + "/optimizer.safetensors", optimizer_tensors(s), {{"format", "pt"}});
  write_file_atomic(folder + "/checkpoint.json", state_json(s).dump(2) + "\n");
  fsync_path(folder);
}

// Renames `from` to `to`, replacing an existing folder `to` (same step saved again).
void replace_folder(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to)) {
    std::string trash = to + ".old";
    fs::remove_all(trash, ec);
    fs::rename(to, trash);
    fs::rename(from, to);
    fs::remove_all(trash, ec);
  } else {
    fs::rename(from, to);
  }
}

void prune_old(const std::string& root, const std::string& keep_newest, int keep_last) {
  std::vector<std::string> steps;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && name.find('.') == std::string::npos)
      steps.push_back(name);
  }
  std::sort(steps.begin(), steps.end());
  const size_t keep = static_cast<size_t>(std::max(1, keep_last));
  for (size_t i = 0; i + keep < steps.size(); ++i) {
    if (steps[i] == keep_newest) continue;
    std::error_code ec;
    fs::remove_all(root + "/" + steps[i], ec);
  }
}

std::map<std::string, torch::Tensor> read_all_tensors(const std::string& path) {
  auto file = SafeTensorsFile::open(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : file->names()) out[name] = file->get(name).clone();
  return out;
}

std::string resolve_folder(const std::string& path) {
  if (file_exists(path + "/checkpoint.json")) return path;
  std::string latest = latest_checkpoint(path);
  E2LLM_CHECK(!latest.empty(), "{}: not a checkpoint (no checkpoint.json, no 'latest' file)", path);
  return latest;
}

}  // namespace

std::string fnv1a_hex(const void* data, size_t size, uint64_t seed) { return hex64(fnv1a(data, size, seed)); }

std::string BaseModelIdentity::describe() const {
  return fmt::format("{} at {} (config {}, weights {})", role, path, config_hash, weight_fingerprint);
}

nlohmann::json BaseModelIdentity::to_json() const {
  return {{"role", role}, {"path", path}, {"config_hash", config_hash},
          {"weight_fingerprint", weight_fingerprint}};
}

BaseModelIdentity BaseModelIdentity::from_json(const nlohmann::json& j) {
  E2LLM_CHECK(j.is_object() && j.contains("role") && j.contains("config_hash") &&
                  j.contains("weight_fingerprint"),
              "checkpoint: base model entry needs role, config_hash and weight_fingerprint: {}",
              j.dump());
  return {j.at("role").get<std::string>(), j.value("path", ""),
          j.at("config_hash").get<std::string>(), j.at("weight_fingerprint").get<std::string>()};
}

BaseModelIdentity identify_base_model(const std::string& role, const std::string& path,
                                      const Weights& weights, const nlohmann::json& config) {
  BaseModelIdentity id{role, path, hex64(fnv1a(config.dump(), 14695981039346656037ull)), ""};
  std::vector<std::string> names = weights.names();
  std::sort(names.begin(), names.end());
  uint64_t h = 14695981039346656037ull;
  for (const auto& name : names) {
    TensorMeta m = weights.meta(name);
    h = fnv1a(name, h);
    h = fnv1a(m.dtype, h);
    h = fnv1a(m.shape.data(), m.shape.size() * sizeof(int64_t), h);
  }
  if (!names.empty()) {
    for (size_t i : {size_t{0}, names.size() / 2, names.size() - 1}) {
      torch::Tensor t = weights.get(names[i]).to(torch::kFloat32).contiguous();
      h = fnv1a(t.data_ptr(), t.numel() * sizeof(float), h);
    }
  }
  id.weight_fingerprint = hex64(h);
  return id;
}

std::string latest_checkpoint(const std::string& root) {
  std::string pointer = root + "/latest";
  if (!file_exists(pointer)) return "";
  std::string name = read_text_file(pointer);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  std::string folder = root + "/" + name;
  E2LLM_CHECK(file_exists(folder + "/checkpoint.json"), "{}: points at '{}', which has no checkpoint.json",
              pointer, name);
  return folder;
}

std::string save_checkpoint(const std::string& root, const TrainingState& state, int keep_last) {
  fs::create_directories(root);
  std::string pattern = root + "/.tmp-" + step_folder_name(state.step) + "-XXXXXX";
  E2LLM_CHECK(::mkdtemp(pattern.data()) != nullptr, "{}: cannot create a temporary checkpoint folder",
              root);
  try {
    write_state_files(pattern, state);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(pattern, ec);
    throw;
  }
  const std::string name = step_folder_name(state.step);
  replace_folder(pattern, root + "/" + name);
  fsync_path(root);
  write_file_atomic(root + "/latest", name + "\n");
  prune_old(root, name, keep_last);
  return root + "/" + name;
}

TrainingState load_checkpoint(const std::string& path) {
  const std::string folder = resolve_folder(path);
  nlohmann::json j = read_json_file(folder + "/checkpoint.json");
  E2LLM_CHECK(j.value("format", "") == "e2llm-checkpoint", "{}/checkpoint.json: not an e2llm checkpoint",
              folder);
  E2LLM_CHECK(j.value("format_version", 0) == kFormatVersion,
              "{}/checkpoint.json: format_version {} is not supported (expected {})", folder,
              j.value("format_version", 0), kFormatVersion);
  TrainingState s;
  s.step = j.at("step").get<int64_t>();
  s.config = j.value("config", nlohmann::json::object());
  for (const auto& b : j.value("base_models", nlohmann::json::array()))
    s.base_models.push_back(BaseModelIdentity::from_json(b));
  s.optimizer_steps = j.value("optimizer_steps", std::map<std::string, int64_t>{});
  s.data_rng_state = j.value("data_rng_state", "");
  s.extra = j.value("extra", nlohmann::json::object());
  s.trainable = read_all_tensors(folder + "/trainable.safetensors");
  s.optimizer = read_all_tensors(folder + "/optimizer.safetensors");
  if (auto it = s.optimizer.find(kRngKey); it != s.optimizer.end()) {
    s.torch_rng_state = it->second;
    s.optimizer.erase(it);
  }
  return s;
}

void check_base_models(const std::vector<BaseModelIdentity>& saved,
                       const std::vector<BaseModelIdentity>& current) {
  for (const auto& want : saved) {
    auto it = std::find_if(current.begin(), current.end(),
                           [&](const BaseModelIdentity& c) { return c.role == want.role; });
    E2LLM_CHECK(it != current.end(), "checkpoint was trained with {}, but no {} is loaded now",
                want.describe(), want.role);
    E2LLM_CHECK(it->same_model(want),
                "checkpoint belongs to another base model: it was trained with {}, but the {} given now "
                "is {}",
                want.describe(), want.role, it->describe());
  }
}

}  // namespace e2llm
