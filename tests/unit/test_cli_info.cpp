#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using e2llm::test::run_cli;

TEST(CliInfo, ReportsOpenMPOpenBLASAndThreads) {
  auto r = run_cli("--threads 2 info --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["blas_threading"], "openmp");
  EXPECT_NE(j["blas_library"].get<std::string>().find("openblas-openmp"), std::string::npos);
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["libtorch"].get<std::string>().empty(), false);
}

TEST(CliInfo, DefaultsToAllCores) {
  auto r = run_cli("info --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["threads"].get<int>(), static_cast<int>(std::thread::hardware_concurrency()));
}

TEST(Cli, UnknownCommandFailsWithReason) {
  auto r = run_cli("no-such-command");
  e2llm::test::expect_one_line_error(r, "unknown command 'no-such-command'");
  r = run_cli("--thraeds 2");  // an unknown option is not called a command
  e2llm::test::expect_one_line_error(r, "unknown option '--thraeds'");
}

// A number out of range is refused naming the option and the value, in words.
TEST(Cli, NumbersOutOfRangeSayWhatIsWrong) {
  auto r = run_cli("--threads -1 info");
  // --threads is a shared option: the top-level help lists it.
  e2llm::test::expect_one_line_error(r, "--threads: must be 0 or more, not -1 (e2llm --help lists the options)");
  r = run_cli("synth --task kv --count 0 --output /dev/null");
  e2llm::test::expect_one_line_error(r, "--count");
  r = run_cli("eval --method e2llm --data x.jsonl --output o --max-new-tokens 0");
  e2llm::test::expect_one_line_error(r, "--max-new-tokens: must be positive, not 0 (e2llm eval --help lists the options)");
  r = run_cli("eval --help");  // help is no error
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--max-new-tokens"), std::string::npos) << r.output;
}

namespace {

// The subcommand names of `e2llm --help`: the first word of each indented
// line under CLI11's "Subcommands:" heading. (Matching "info" anywhere would
// also match --log-level's "trace, debug, info, ...".)
std::vector<std::string> help_subcommands(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_section = true;
      continue;
    }
    if (!in_section) continue;
    if (line.empty() || line[0] != ' ') break;  // the section ends at a blank or unindented line
    std::istringstream words(line);
    std::string name;
    words >> name;
    names.push_back(name);
  }
  return names;
}

}  // namespace

TEST(Cli, HelpListsInfo) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  const std::vector<std::string> names = help_subcommands(r.output);
  ASSERT_NE(std::find(names.begin(), names.end(), "train"), names.end()) << "no subcommand list in:\n" << r.output;
  EXPECT_NE(std::find(names.begin(), names.end(), "info"), names.end()) << r.output;
  // "info" in an option's help text is not a subcommand.
  EXPECT_EQ(help_subcommands("  --log-level TEXT  trace, debug, info\n"), std::vector<std::string>{});
}

TEST(CliInfo, ReportsHowBf16MatricesAreMultipliedAndRejectsABadOverride) {
  for (const std::string mode : {"native", "float32"}) {
    ::setenv("E2LLM_BF16_MATMUL", mode.c_str(), 1);
    auto r = run_cli("info --json");
    ::unsetenv("E2LLM_BF16_MATMUL");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["bf16_matmul"], mode);
    EXPECT_TRUE(j["cpu_features"].is_string());
  }
  ::setenv("E2LLM_BF16_MATMUL", "fast", 1);
  auto r = run_cli("info");
  ::unsetenv("E2LLM_BF16_MATMUL");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("E2LLM_BF16_MATMUL='fast'"), std::string::npos) << r.output;
}
