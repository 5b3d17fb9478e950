// `e2llm score`, and the run bookkeeping: resumable predictions, metrics table, progress.
#include <nlohmann/json.hpp>

#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/eval/eval_run.h"
#include "e2llm/io/fs.h"
#include "test_util.h"

using namespace e2llm;
using test::run_cli;
using test::TempDir;

namespace {
void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
}  // namespace

TEST(ScoreCli, QaAggregateAndPerExample) {
  TempDir dir;
  write(dir.file("r.jsonl"), R"({"id": "1", "answers": ["The cat", "a dog"]})"
                             "\n"
                             R"({"id": "2", "answers": ["blue sky"]})"
                             "\n");
  write(dir.file("p.jsonl"), R"({"id": "2", "prediction": "sky"})"
                             "\n"
                             R"({"id": "1", "prediction": "cat!"})"
                             "\n"
                             R"({"id": "x", "prediction": "unused"})"
                             "\n");
  auto r = run_cli("score --metric qa --predictions " + dir.file("p.jsonl") + " --references " + dir.file("r.jsonl") +
                   " --per-example " + dir.file("e.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["metric"], "qa");
  EXPECT_EQ(j["n"], 2);
  EXPECT_NEAR(j["exact_match"].get<double>(), 50.0, 1e-12);                 // "cat!" == "The cat"
  EXPECT_NEAR(j["f1"].get<double>(), 100.0 * (1.0 + 2.0 / 3.0) / 2, 1e-12);  // 1 and F1(sky | blue sky)
  std::ifstream per(dir.file("e.jsonl"));
  std::string first;
  std::getline(per, first);
  EXPECT_EQ(nlohmann::json::parse(first)["id"], "1");
}

TEST(ScoreCli, RougeReportsGeometricMeanAndMissingPredictionIsAnError) {
  TempDir dir;
  write(dir.file("r.jsonl"), R"({"id": "a", "answers": ["the team chose a rubber case"]})"
                             "\n");
  write(dir.file("p.jsonl"), R"({"id": "a", "prediction": "The team chose a case."})"
                             "\n");
  auto r = run_cli("score --metric rouge --predictions " + dir.file("p.jsonl") + " --references " + dir.file("r.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_NEAR(j["rouge1_f"].get<double>(), 100.0 * 2 * 1 * (5.0 / 6) / (1 + 5.0 / 6), 1e-9);
  EXPECT_NEAR(j["rouge_geo_mean"].get<double>(),
              std::cbrt(j["rouge1_f"].get<double>() * j["rouge2_f"].get<double>() * j["rougeL_f"].get<double>()), 1e-9);
  write(dir.file("p.jsonl"), R"({"id": "b", "prediction": "x"})"
                             "\n");
  r = run_cli("score --metric rouge --predictions " + dir.file("p.jsonl") + " --references " + dir.file("r.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no prediction for id 'a'"), std::string::npos) << r.output;
  r = run_cli("score --metric bleu --predictions " + dir.file("p.jsonl") + " --references " + dir.file("r.jsonl"));
  EXPECT_NE(r.output.find("unknown metric 'bleu'"), std::string::npos) << r.output;
}

TEST(PredictionLog, ResumesSkippingDoneIdsAndDropsATornLine) {
  TempDir dir;
  const std::string path = dir.file("pred.jsonl");
  {
    PredictionLog log(path);
    log.append({"a", "first"});
    log.append({"b", "second"}, {{"tokens", 3}});
    EXPECT_THROW(log.append({"a", "again"}), Error);
  }
  std::ofstream(path, std::ios::app) << R"({"id": "c", "predic)";  // killed mid-write
  EXPECT_EQ(read_predictions(path).size(), 2u);
  {
    PredictionLog log(path);
    EXPECT_TRUE(log.done("a"));
    EXPECT_TRUE(log.done("b"));
    EXPECT_FALSE(log.done("c"));
    log.append({"c", "third"});
  }
  auto all = read_predictions(path);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].prediction, "third");
  EXPECT_NE(read_text_file(path).find(R"("tokens":3)"), std::string::npos);
  write(path, "{\"id\": \"a\", \"prediction\": \"x\"}\n{\"id\": \"a\", \"prediction\": \"y\"}\n");
  EXPECT_THROW(read_predictions(path), Error);
}

TEST(MetricsTable, MarkdownAndJson) {
  std::vector<MetricsRow> rows = {{"truncate", "qmsum", {{"n", 281}, {"rouge1_f", 30.123}}},
                                  {"rag", "qmsum", {{"n", 281}, {"rouge1_f", 31.5}, {"rouge_geo_mean", 12}}}};
  EXPECT_EQ(metrics_markdown(rows),
            "| method | dataset | n | rouge1_f | rouge_geo_mean |\n"
            "|---|---|---:|---:|---:|\n"
            "| truncate | qmsum | 281 | 30.12 | |\n"
            "| rag | qmsum | 281 | 31.50 | 12.00 |\n");
  auto j = metrics_json(rows);
  EXPECT_EQ(j[1]["method"], "rag");
  EXPECT_EQ(j[1]["scores"]["n"], 281);
  EXPECT_DOUBLE_EQ(j[0]["scores"]["rouge1_f"].get<double>(), 30.123);
}

TEST(Progress, BarRateAndEta) {
  EXPECT_EQ(format_progress(0, 10, 0, 0.0), "[>                             ] 0/10   0.0%  ETA --");
  // 20 done before resuming, 10 more in 5 s: 2 it/s, 70 left -> 35 s.
  EXPECT_EQ(format_progress(30, 100, 10, 5.0), "[=========>                    ] 30/100  30.0%  2.00 it/s  ETA 35s");
  EXPECT_NE(format_progress(100, 100, 100, 10.0).find("[==============================] 100/100 100.0%"),
            std::string::npos);
}
