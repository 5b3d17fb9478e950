// bench/efficiency.py end to end on tiny models (issue #15's CI smoke run):
// at two short lengths every e2llm-side method yields a measured row, every
// answer has exactly --new-tokens tokens, full context past the decoder's
// window is reported as such, a rerun resumes instead of measuring again
// (unless told to --redo a method), and `report` draws the tables. llama.cpp is not built in CI; its output parsing
// is tested in tests/bench/test_efficiency.py against a real run's lines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

#include "e2llm/data/synthetic.h"
#include "e2llm/io/fs.h"
#include "test_e2llm_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

std::vector<nlohmann::json> result_rows(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::istringstream lines(read_text_file(path));
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(EfficiencyBench, EveryMethodGivesARowAndARerunResumes) {
  test::TempDir dir;
  const std::vector<std::string> words = kv_vocabulary({.vocabulary = KvVocabulary::closed});
  const int64_t window = 160;
  const test::TinyModels models = test::write_tiny_models(dir.path() + "/models", words, window);
  write_examples(dir.file("train.jsonl"), kv_dataset({.facts = 2, .words = 120, .seed = 3,
                                                      .vocabulary = KvVocabulary::closed}, 2));
  nlohmann::json config = {{"model", test::tiny_e2llm_config(models).to_json()},
                           {"training", {{"max_steps", 1}, {"output_dir", dir.file("ckpt")}}},
                           {"data", {{"train", "train.jsonl"}}}};
  write_file_atomic(dir.file("config.json"), config.dump(2));
  auto trained = test::run_cli("train --config " + dir.file("config.json") + " --quiet");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  std::string text;
  for (int i = 0; i < 400; ++i) text += words[(i * 7) % words.size()] + " ";
  write_file_atomic(dir.file("text.txt"), text);

  const std::string cli_dir = std::filesystem::path(test::cli_path()).parent_path().string();
  const std::string run = test::python_path() + " " + test::source_dir() + "/bench/efficiency.py run --out " +
                          dir.file("out") + " --build " + cli_dir + " --text " + dir.file("text.txt") +
                          " --decoder tiny=" + models.decoder + " --checkpoint tiny=" + dir.file("ckpt") +
                          " --lengths 40,120 --methods e2llm,e2llm-stored,full,rag,truncate --new-tokens 4" +
                          " --threads 1";
  auto first = test::run_command(run);
  ASSERT_EQ(first.exit_code, 0) << first.output;

  const std::vector<nlohmann::json> rows = result_rows(dir.file("out/results.jsonl"));
  std::map<std::pair<int64_t, std::string>, nlohmann::json> by_run;
  for (const auto& r : rows) by_run[{r["length"].get<int64_t>(), r["method"].get<std::string>()}] = r;
  ASSERT_EQ(rows.size(), 10u) << first.output;
  ASSERT_EQ(by_run.size(), 10u);
  for (const auto& [key, r] : by_run) {
    const auto& [length, method] = key;
    SCOPED_TRACE(method + " at " + std::to_string(length));
    if (method == "full" && length == 120) {  // 120 + question + answer > 160
      EXPECT_EQ(r["status"], "exceeds window");
      continue;
    }
    ASSERT_EQ(r["status"], "ok") << r.dump();
    EXPECT_EQ(r["new_tokens"], 4);
    EXPECT_GT(r["latency_s"].get<double>(), 0);
    EXPECT_GT(r["ttft_s"].get<double>(), 0);
    EXPECT_LE(r["ttft_s"].get<double>(), r["latency_s"].get<double>());
    EXPECT_GT(r["prefill_s"].get<double>(), 0);
    EXPECT_GT(r["peak_rss_mib"].get<double>(), 50);  // a process that loaded LibTorch
    if (method == "e2llm") {
      EXPECT_GT(r["encode_s"].get<double>(), 0);
    }
    if (method == "e2llm-stored") {
      EXPECT_EQ(r["chunks_encoded"], 0);  // the question encoded nothing
      EXPECT_GT(r["chunks_from_store"].get<int64_t>(), 1);
    }
  }

  auto again = test::run_command(run);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("0 runs to do (10 already"), std::string::npos) << again.output;
  EXPECT_EQ(result_rows(dir.file("out/results.jsonl")).size(), 10u);
  auto redone = test::run_command(run + " --redo truncate");
  ASSERT_EQ(redone.exit_code, 0) << redone.output;
  EXPECT_NE(redone.output.find("2 runs to do (8 already"), std::string::npos) << redone.output;
  EXPECT_EQ(result_rows(dir.file("out/results.jsonl")).size(), 12u);

  auto report = test::run_command(test::python_path() + " " + test::source_dir() + "/bench/efficiency.py report --out " +
                                  dir.file("out"));
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("| method | 40 | 120 |"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("| full | "), std::string::npos);
  EXPECT_NE(report.output.find("exceeds window"), std::string::npos);
}

}  // namespace
}  // namespace e2llm
