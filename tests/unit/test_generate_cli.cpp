// e2llm generate on the real SmolLM2 GGUF: greedy text equals transformers'
// (golden), --json, chat mode, stop strings and bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2llm/io/fs.h"
#include "test_util.h"

namespace e2llm {
namespace {

nlohmann::json golden_case(size_t i) {
  return read_json_file(test::golden_dir() + "/generation/smollm2_greedy.json").at("cases").at(i);
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

#define RUN_ON_REAL_MODEL(result, args) test::CommandResult result = test::run_cli(args)

// transformers dequantizes the file to float32; the quantized kernels (the
// default for a .gguf) round the activations to int8 and still pick the same tokens.
TEST(GenerateCli, GreedyJsonEqualsTransformersOnSmolLM2) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  for (const std::string weights : {"float32", "quantized"}) {
    for (size_t i : {0u, 2u}) {  // a raw prompt and a chat prompt
      nlohmann::json c = golden_case(i);
      std::string args = "generate --model " + quoted(path) + " --weights " + weights + " --prompt " +
                         quoted(c.at("text")) + " --max-new-tokens 8 --json" +
                         (c.at("chat").get<bool>() ? " --chat" : "");
      RUN_ON_REAL_MODEL(r, args);
      ASSERT_EQ(r.exit_code, 0) << r.output;
      nlohmann::json out = nlohmann::json::parse(r.output);
      std::vector<int64_t> want = c.at("generated_ids");
      want.resize(8);
      EXPECT_EQ(out.at("ids").get<std::vector<int64_t>>(), want) << weights << ": " << c.at("text");
    }
  }
}

TEST(GenerateCli, StreamsTextAndCutsAtStopString) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  // transformers continues "The capital of France is" with " Paris.\n\nThe answer is: ..."
  RUN_ON_REAL_MODEL(r, "generate --model " + quoted(path) +
                          " --prompt 'The capital of France is' --max-new-tokens 12 --stop .");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, " Paris\n");
}

TEST(GenerateCli, BadInputIsAOneLineError) {
  test::CommandResult r = test::run_cli("generate --model /nonexistent --prompt hi");
  test::expect_one_line_error(r, "/nonexistent");
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  r = test::run_cli("generate --model " + quoted(path) + " --prompt hi --temperature 0");
  test::expect_one_line_error(r, "temperature");
  // Past SmolLM2's 8,192 positions: refused before any prefill.
  test::TempDir dir;
  std::string long_prompt;
  for (int i = 0; i < 9000; ++i) long_prompt += " hello";
  write_file_atomic(dir.file("long.txt"), long_prompt);
  r = test::run_cli("generate --model " + quoted(path) + " --prompt-file " + dir.file("long.txt"));
  test::expect_one_line_error(r, "positions, past the decoder's window of 8192");
}

// A prompt too long for a command line comes from a file or standard input,
// and gives what the same text as --prompt gives.
TEST(GenerateCli, PromptFromAFileOrStandardInputEqualsTheArgument) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  test::TempDir dir;
  const std::string text = "The capital of France is";
  write_file_atomic(dir.file("prompt.txt"), text);
  const std::string common = "generate --model " + quoted(path) + " --max-new-tokens 6 --json ";
  RUN_ON_REAL_MODEL(argument, common + "--prompt " + quoted(text));
  ASSERT_EQ(argument.exit_code, 0) << argument.output;
  RUN_ON_REAL_MODEL(file, common + "--prompt-file " + dir.file("prompt.txt"));
  EXPECT_EQ(file.output, argument.output);
  test::CommandResult piped = test::run_cli(common + "--prompt-file -", dir.file("prompt.txt"));
  EXPECT_EQ(piped.output, argument.output);

  for (const std::string& bad : {common, common + "--prompt hi --prompt-file " + dir.file("prompt.txt"),
                                 common + "--prompt hi --weights int3",
                                 common + "--prompt-file " + dir.file("missing.txt")}) {
    test::CommandResult r = test::run_cli(bad);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_TRUE(r.output.find("prompt") != std::string::npos || r.output.find("missing.txt") != std::string::npos ||
                r.output.find("--weights: int3 not in") != std::string::npos)
        << bad << " -> " << r.output;
  }
}

}  // namespace
}  // namespace e2llm
