// Where the shipped E2LLM model is (see command.h).
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "command.h"
#include "e2llm/core/error.h"
#include "e2llm/core/runtime.h"

#ifndef E2LLM_SOURCE_MODELS_DIR
#error "CMakeLists.txt defines E2LLM_SOURCE_MODELS_DIR for this file"
#endif

namespace e2llm::cli {
namespace {
constexpr const char* kShippedModel = "e2llm-minilm-smollm2";
}  // namespace

std::string shipped_model_dir() {
  if (const char* env = std::getenv("E2LLM_MODEL"); env && *env) {
    E2LLM_CHECK(std::filesystem::is_directory(env), "E2LLM_MODEL={}: no such model folder", env);
    return env;
  }
  // Installed (bin/e2llm beside share/e2llm/models) first, then the checkout it was built from.
  std::vector<std::string> tried;
  const std::filesystem::path bin = executable_dir();
  tried.push_back((bin.parent_path() / "share/e2llm/models" / kShippedModel).lexically_normal().string());
  tried.push_back(std::string(E2LLM_SOURCE_MODELS_DIR) + "/" + kShippedModel);
  for (const std::string& dir : tried)
    if (std::filesystem::exists(dir + "/latest") || std::filesystem::exists(dir + "/checkpoint.json")) return dir;
  fail("no model given and the shipped model {} is not in {}; give --model CHECKPOINT or set E2LLM_MODEL",
       kShippedModel, fmt::join(tried, " or "));
}

}  // namespace e2llm::cli
