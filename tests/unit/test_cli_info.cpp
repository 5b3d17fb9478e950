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
