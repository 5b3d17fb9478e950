#include <nlohmann/json.hpp>

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
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.output.empty());
}

TEST(Cli, HelpListsInfo) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("info"), std::string::npos);
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
