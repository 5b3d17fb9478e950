// The options every command shares: --device is refused where a command
// would silently compute on the CPU, --log-level checks its value and sends
// log lines to stderr (results stay alone on stdout).
#include <gtest/gtest.h>

#include <cstdlib>

#include "e2llm/io/fs.h"
#include "test_util.h"

namespace e2llm {
namespace {

TEST(CliOptions, NonCpuDeviceIsRefusedByCommandsThatRunOnTheCpu) {
  test::TempDir dir;
  test::CommandResult cpu = test::run_cli("--device cpu synth --task kv --count 1 --output " + dir.file("cpu.jsonl"));
  EXPECT_EQ(cpu.exit_code, 0) << cpu.output;
  EXPECT_TRUE(file_exists(dir.file("cpu.jsonl")));

  test::CommandResult r = test::run_cli("--device cuda:0 synth --task kv --count 1 --output " + dir.file("out.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cuda:0"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(dir.file("out.jsonl"))) << "the command ran anyway";
}

TEST(CliOptions, UnknownLogLevelIsRefused) {
  test::CommandResult r = test::run_cli("--log-level verbose info");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("verbose"), std::string::npos) << r.output;
}

TEST(CliOptions, InfoLogLinesGoToStderrAndNameTheModelLoaded) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  test::TempDir dir;
  auto run = [&](const std::string& level) {
    const std::string command = test::cli_path() + " --log-level " + level + " generate --model '" + path +
                                "' --prompt hi --greedy --max-new-tokens 2 >" + dir.file("out") + " 2>" +
                                dir.file("err");
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  };
  run("info");
  EXPECT_NE(read_text_file(dir.file("err")).find("loaded decoder"), std::string::npos) << read_text_file(dir.file("err"));
  EXPECT_EQ(read_text_file(dir.file("out")).find("loaded decoder"), std::string::npos);
  run("warn");
  EXPECT_EQ(read_text_file(dir.file("err")).find("loaded decoder"), std::string::npos) << "info shown at warn";
}

}  // namespace
}  // namespace e2llm
