// Checkpoint folders: write into a temp folder, rename into place, then move
// the `latest` pointer. See include/e2llm/io/checkpoint.h for the layout.
#include "e2llm/io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "e2llm/core/error.h"
#include "e2llm/io/checkpoint_json.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/io/weights.h"

namespace fs = std::filesystem;

namespace e2llm {
namespace {

constexpr const char* kRngKey = "__rng__.torch_cpu";

std::string step_folder_name(int64_t step) { return fmt::format("step-{:08d}", step); }

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string checkpoint_json_text(const TrainingState& s) {
  return format_checkpoint_json({s.step, s.config, s.base_models, s.optimizer_steps, s.data_rng_state, s.extra});
}

std::map<std::string, torch::Tensor> optimizer_tensors(const TrainingState& s) {
  std::map<std::string, torch::Tensor> out = s.optimizer;
  if (s.torch_rng_state.defined()) out[kRngKey] = s.torch_rng_state;
  return out;
}

void write_state_files(const std::string& folder, const TrainingState& s) {
  save_safetensors(folder + "/trainable.safetensors", s.trainable, {{"format", "pt"}});
  // An exported model (e2llm export) has no optimizer state and no file for it.
  if (const auto optimizer = optimizer_tensors(s); !optimizer.empty())
    save_safetensors(folder + "/optimizer.safetensors", optimizer, {{"format", "pt"}});
  write_file_atomic(folder + "/checkpoint.json", checkpoint_json_text(s));
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
    if (!entry.is_directory()) continue;
    if (name.starts_with("step-") && name.find('.') == std::string::npos) steps.push_back(name);
    // A run killed while writing leaves its temporary folder; only one
    // process writes checkpoints into a root, so none is in use now.
    if (name.starts_with(".tmp-step-")) {
      std::error_code ec;
      fs::remove_all(entry.path(), ec);
    }
  }
  // The step just written is kept whatever its number (an export of an
  // earlier step replacing a later one), with the keep_last - 1 newest others.
  std::erase(steps, keep_newest);
  std::sort(steps.begin(), steps.end());
  const size_t keep_others = static_cast<size_t>(std::max(1, keep_last)) - 1;
  for (size_t i = 0; i + keep_others < steps.size(); ++i) {
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

}  // namespace

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

std::string checkpoint_folder(const std::string& path) {
  if (file_exists(path + "/checkpoint.json")) return path;
  std::string latest = latest_checkpoint(path);
  E2LLM_CHECK(!latest.empty(), "{}: not a checkpoint (no checkpoint.json, no 'latest' file)", path);
  return latest;
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
  const std::string folder = checkpoint_folder(path);
  const std::string json_path = folder + "/checkpoint.json";
  CheckpointJson c = parse_checkpoint_json(read_text_file(json_path), json_path);
  TrainingState s;
  s.step = c.step;
  s.config = std::move(c.config);
  s.base_models = std::move(c.base_models);
  s.optimizer_steps = std::move(c.optimizer_steps);
  s.data_rng_state = std::move(c.data_rng_state);
  s.extra = std::move(c.extra);
  s.trainable = read_all_tensors(folder + "/trainable.safetensors");
  if (file_exists(folder + "/optimizer.safetensors")) s.optimizer = read_all_tensors(folder + "/optimizer.safetensors");
  if (auto it = s.optimizer.find(kRngKey); it != s.optimizer.end()) {
    s.torch_rng_state = it->second;
    s.optimizer.erase(it);
  }
  return s;
}

nlohmann::json load_checkpoint_config(const std::string& path) {
  const std::string json_path = checkpoint_folder(path) + "/checkpoint.json";
  return parse_checkpoint_json(read_text_file(json_path), json_path).config;
}

void copy_named_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& into,
                        const std::map<std::string, torch::Tensor>& from, const std::string& what) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : into) {
    auto it = from.find(name);
    E2LLM_CHECK(it != from.end(), "{}: missing tensor '{}'", what, name);
    E2LLM_CHECK(it->second.sizes() == t.sizes(), "{}: tensor '{}' has shape {}, the model has {}", what, name,
                c10::str(it->second.sizes()), c10::str(t.sizes()));
    t.copy_(it->second);  // in place, also into leaves that require grad (no_grad above)
  }
  if (from.size() == into.size()) return;
  for (const auto& [name, t] : from) {
    bool known = std::any_of(into.begin(), into.end(), [&](const auto& s) { return s.first == name; });
    E2LLM_CHECK(known, "{}: unexpected tensor '{}' (made with another config?)", what, name);
  }
}

}  // namespace e2llm
