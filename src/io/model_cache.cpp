// Base models by name in the model cache (see model_cache.h).
#include "e2llm/io/model_cache.h"

#include <cstdlib>
#include <filesystem>

#include "e2llm/core/error.h"

namespace e2llm {

std::string model_cache_dir() {
  if (const char* env = std::getenv("E2LLM_MODEL_CACHE"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/e2llm/models";
}

bool is_model_name(const std::string& path_or_name) {
  return !path_or_name.empty() && path_or_name.find('/') == std::string::npos && path_or_name != "." &&
         path_or_name != "..";
}

std::string resolve_model_path(const std::string& path_or_name) {
  if (!is_model_name(path_or_name)) return path_or_name;
  const std::string path = model_cache_dir() + "/" + path_or_name;
  E2LLM_CHECK(std::filesystem::exists(path),
              "base model '{}' is not in the model cache {}: run scripts/fetch_models.sh to fetch it "
              "(or set E2LLM_MODEL_CACHE to the folder that holds it)",
              path_or_name, model_cache_dir());
  return path;
}

std::string model_name_if_cached(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path model = fs::weakly_canonical(path, ec);
  if (ec) return path;
  const fs::path cache = fs::weakly_canonical(model_cache_dir(), ec);
  if (ec || model.parent_path() != cache) return path;
  return model.filename().string();
}

}  // namespace e2llm
