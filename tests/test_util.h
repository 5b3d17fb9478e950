// Helpers shared by the tests: where inputs live, temp folders, running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace e2llm::test {

// Where the build put things (unit/test_paths.cpp, the one file compiled with
// these absolute paths, so every other test object is the same in any clone
// and ccache can reuse it).
std::string source_dir();     // the checkout
std::string test_data_dir();  // tests/data
std::string golden_dir();     // tests/golden
std::string cli_path();       // the e2llm executable
std::string python_path();    // python3, for the bench scripts' tests

// ../shared beside the checkout (or $E2LLM_SHARED_DIR).
inline std::string shared_dir() {
  const char* env = std::getenv("E2LLM_SHARED_DIR");
  return env ? env : source_dir() + "/../shared";
}

// Where scripts/fetch_models.sh puts real pretrained models
// ($E2LLM_MODEL_CACHE, default ~/.cache/e2llm/models).
inline std::string model_cache_dir() {
  if (const char* env = std::getenv("E2LLM_MODEL_CACHE")) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/e2llm/models";
}

// Path of a fetched real model, or "" (and the test should GTEST_SKIP()).
inline std::string real_model(const std::string& name) {
  std::string path = model_cache_dir() + "/" + name;
  return std::filesystem::exists(path) ? path : "";
}

// Whether a missing real model must fail its test instead of skipping it: with
// E2LLM_REQUIRE_REAL_MODELS=1 (scripts/test.sh sets it unless
// E2LLM_ALLOW_MISSING_MODELS=1), for the models scripts/fetch_models.sh fetches
// (keep this list in step with it), so a failed fetch cannot pass CI silently.
// A model the script does not fetch (bge-small-en-v1.5) still skips.
inline bool real_model_required(const std::string& name) {
  const char* env = std::getenv("E2LLM_REQUIRE_REAL_MODELS");
  if (!env || std::string(env) != "1") return false;
  for (const char* fetched :
       {"all-MiniLM-L6-v2", "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-Q4_K_M.gguf"})
    if (name == fetched) return true;
  return false;
}

// Declares `var` = the path of real model `name`; when it is missing, skips the
// test, or fails it when real_model_required(name).
#define E2LLM_REQUIRE_REAL_MODEL(var, name)                                                  \
  const std::string var = ::e2llm::test::real_model(name);                                   \
  if (!var.empty()) {                                                                        \
  } else if (::e2llm::test::real_model_required(name))                                       \
    FAIL() << "real model '" << name << "' not in " << ::e2llm::test::model_cache_dir()      \
           << " and E2LLM_REQUIRE_REAL_MODELS=1; run scripts/fetch_models.sh to fetch it "   \
              "(or set E2LLM_ALLOW_MISSING_MODELS=1 for scripts/test.sh to let it skip)";    \
  else                                                                                       \
    GTEST_SKIP() << "real model '" << name << "' not in " << ::e2llm::test::model_cache_dir() \
                 << "; run scripts/fetch_models.sh to fetch it"

// Declares `var` = `path`, a file of ../shared (the real datasets); when it is
// missing, skips the test, or fails it under E2LLM_REQUIRE_SHARED_DATA=1
// (.ci/run sets it: CI always has ../shared).
#define E2LLM_REQUIRE_SHARED_DATA(var, path)                                                         \
  const std::string var = (path);                                                                    \
  if (std::filesystem::exists(var)) {                                                                \
  } else if (const char* required_ = std::getenv("E2LLM_REQUIRE_SHARED_DATA");                       \
             required_ && std::string(required_) == "1")                                             \
    FAIL() << var << " is missing and E2LLM_REQUIRE_SHARED_DATA=1 (../shared beside the checkout, or " \
              "$E2LLM_SHARED_DIR)";                                                                  \
  else                                                                                               \
    GTEST_SKIP() << var << " not present (../shared beside the checkout, or $E2LLM_SHARED_DIR)"

// A fresh empty folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "e2llm-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Sets an environment variable for the scope (and the commands it runs), then
// restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// The command failed with exit code 1 and one line, "e2llm: error: ...",
// that contains `message`.
inline void expect_one_line_error(const CommandResult& r, const std::string& message, const std::string& what = "") {
  EXPECT_EQ(r.exit_code, 1) << what << "\n" << r.output;
  EXPECT_EQ(r.output.rfind("e2llm: error: ", 0), 0u) << what << ": not an e2llm error: " << r.output;
  EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << what << ": not one line: " << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << what << ": does not say '" << message << "': " << r.output;
}

// Runs a shell command line; stdout and stderr together.
inline CommandResult run_command(std::string cmd) {
  cmd += " 2>&1";
  CommandResult result;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Runs the e2llm CLI with `args` (a shell-quoted string) and optional stdin file.
inline CommandResult run_cli(const std::string& args, const std::string& stdin_file = "") {
  std::string cmd = cli_path() + " " + args;
  if (!stdin_file.empty()) cmd += " < '" + stdin_file + "'";
  return run_command(cmd);
}

}  // namespace e2llm::test
