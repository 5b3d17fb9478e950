// e2llm eval end to end on tiny random models: predictions and metrics
// written, a longer second run resumes, the baselines respect the window,
// E2LLM answers from a checkpoint, and bad input is a one-line error.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "e2llm/eval/baselines.h"
#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/io/fs.h"
#include "e2llm/tokenizer/tokenizer.h"
#include "e2llm/data/synthetic.h"
#include "test_e2llm_models.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

struct EvalCli : ::testing::Test {
  TempDir dir;
  KvOptions task{.facts = 2, .words = 300, .seed = 7, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7};
  test::TinyModels models = test::write_tiny_models(dir.path(), kv_vocabulary(task), 128);
  std::string data = dir.file("kv.jsonl");

  void SetUp() override {
    std::string out;
    int i = 0;
    for (const Example& t : kv_dataset(task, 4)) {
      nlohmann::json j = {{"id", "kv-" + std::to_string(i++)},
                          {"context", t.context},
                          {"prompt", t.prompt},
                          {"answers", t.answers},
                          {"meta", nlohmann::json::object()}};
      out += j.dump() + "\n";
    }
    write_file_atomic(data, out);
  }

  std::string baseline(const std::string& method, const std::string& output, int limit) const {
    return "eval --method " + method + " --model " + models.decoder + " --data " + data + " --output " + output +
           " --metric qa --window 64 --max-new-tokens 4 --no-progress --limit " + std::to_string(limit);
  }
};

}  // namespace

TEST_F(EvalCli, WritesPredictionsAndMetricsAndResumes) {
  const std::string out = dir.file("truncate");
  auto first = test::run_cli(baseline("truncate", out, 2));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("| truncate | kv |"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("2 examples: 2 run now"), std::string::npos) << first.output;
  const auto before = lines_of(out + "/predictions.jsonl");
  ASSERT_EQ(before.size(), 2u);
  for (const std::string& line : before) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j.at("prediction").is_string());
    // 300 context words do not fit in 64 - 4: the prompt was cut to fit.
    EXPECT_LE(j.at("prompt_tokens").get<int>(), 60) << line;
    EXPECT_LT(j.at("kept_tokens").get<int>(), j.at("context_tokens").get<int>()) << line;
    EXPECT_LE(j.at("new_tokens").get<int>(), 4) << line;
  }
  auto metrics = read_json_file(out + "/metrics.json");
  EXPECT_EQ(metrics.at("rows").at(0).at("scores").at("n"), 2);
  EXPECT_TRUE(file_exists(out + "/metrics.md"));

  // All four: the first two are not answered again (their lines stay as they were).
  auto second = test::run_cli(baseline("truncate", out, 4));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("4 examples: 2 run now"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("2 resumed"), std::string::npos) << second.output;
  const auto after = lines_of(out + "/predictions.jsonl");
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1]);
  EXPECT_EQ(read_json_file(out + "/metrics.json").at("rows").at(0).at("scores").at("n"), 4);

  // Other settings into the same folder are refused.
  auto other = test::run_cli(baseline("rag", out, 4));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("other settings"), std::string::npos) << other.output;
}

TEST_F(EvalCli, RagFitsTheWindowAndFullSkipsWhatDoesNotFit) {
  auto rag = test::run_cli(baseline("rag", dir.file("rag"), 2) + " --rag-chunk-size 16");
  ASSERT_EQ(rag.exit_code, 0) << rag.output;
  ASSERT_EQ(lines_of(dir.file("rag/predictions.jsonl")).size(), 2u);
  for (const std::string& line : lines_of(dir.file("rag/predictions.jsonl"))) {
    auto j = nlohmann::json::parse(line);
    EXPECT_LE(j.at("prompt_tokens").get<int>(), 60) << line;
    EXPECT_GE(j.at("selected").size(), 1u) << line;
    EXPECT_GT(j.at("bm25_hits").get<int>(), 0) << line;  // the question's key is in some chunk
  }
  // Two examples too long for the window and one shortened to fit: full
  // answers the one that fits and counts the others as skipped.
  nlohmann::json shortened = nlohmann::json::parse(lines_of(data).at(0));
  const std::string context = shortened.at("context");
  shortened["context"] = context.substr(0, context.find(' ', 100));
  shortened["id"] = "kv-short";
  const auto long_ones = lines_of(data);
  write_file_atomic(dir.file("mixed.jsonl"),
                    long_ones.at(0) + "\n" + shortened.dump() + "\n" + long_ones.at(1) + "\n");
  const std::string full = "eval --method full --model " + models.decoder + " --data " + dir.file("mixed.jsonl") +
                           " --output " + dir.file("full") + " --metric qa --window 64 --max-new-tokens 2 --no-progress";
  auto r = test::run_cli(full);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 examples skipped"), std::string::npos) << r.output;
  std::map<std::string, nlohmann::json> by_id;
  for (const std::string& line : lines_of(dir.file("full/predictions.jsonl"))) {
    auto j = nlohmann::json::parse(line);
    by_id[j.at("id")] = j;
  }
  ASSERT_EQ(by_id.size(), 3u);
  EXPECT_FALSE(by_id["kv-short"].contains("skipped"));
  EXPECT_EQ(by_id["kv-short"].at("kept_tokens"), by_id["kv-short"].at("context_tokens"));
  EXPECT_GT(by_id["kv-short"].at("context_tokens").get<int>(), 10);
  for (const char* id : {"kv-0", "kv-1"}) {
    EXPECT_NE(by_id[id].value("skipped", "").find("the context has"), std::string::npos) << by_id[id].dump();
    EXPECT_FALSE(by_id[id].contains("kept_tokens")) << by_id[id].dump();
  }
  auto scores = read_json_file(dir.file("full/metrics.json")).at("rows").at(0).at("scores");
  EXPECT_EQ(scores.at("n"), 1);
  EXPECT_EQ(scores.at("skipped"), 2);
  // A rerun resumes: nothing is answered again, the skipped stay skipped.
  auto again = test::run_cli(full);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("0 run now"), std::string::npos) << again.output;
  EXPECT_EQ(read_json_file(dir.file("full/metrics.json")).at("rows").at(0).at("scores").at("skipped"), 2);
}

TEST_F(EvalCli, E2llmAnswersFromACheckpoint) {
  E2llmConfig c;
  c.encoder_path = models.encoder;
  c.decoder_path = models.decoder;
  c.chunker.chunk_size = 30;
  c.pooling = {PoolingMode::kSegments, 2, 4, false};
  TempDir ckpt;
  KvOptions train_task = task;
  train_task.seed = 3;
  write_examples(dir.file("train.jsonl"), kv_dataset(train_task, 2));
  nlohmann::json config = {{"model", c.to_json()},
                           {"training", {{"max_steps", 1}, {"output_dir", ckpt.path()}}},
                           {"data", {{"train", "train.jsonl"}}}};
  write_file_atomic(dir.file("config.json"), config.dump(2));
  auto trained = test::run_cli("train --config " + dir.file("config.json") + " --quiet");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;

  const std::string out = dir.file("e2llm");
  auto r = test::run_cli("eval --method e2llm --checkpoint " + ckpt.path() + " --data " + data + " --output " + out +
                         " --metric qa --max-new-tokens 3 --limit 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| e2llm | kv |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ETA"), std::string::npos) << r.output;  // the progress bar
  const auto lines = lines_of(out + "/predictions.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_GT(j.at("chunks").get<int>(), 5);
  EXPECT_GT(j.at("soft_tokens").get<int>(), 0);

  // A text whose soft tokens would fill the decoder's 128 positions (2 per
  // 30-token chunk) is skipped with the reason; the run goes on.
  const nlohmann::json first = nlohmann::json::parse(lines_of(data)[0]);
  std::string long_text;  // ~2,400 words: ~80 chunks
  for (int i = 0; i < 8; ++i) long_text += first.at("context").get<std::string>() + " ";
  nlohmann::json long_example = first;
  long_example["id"] = "long";
  long_example["context"] = long_text;
  write_file_atomic(dir.file("with-long.jsonl"), lines_of(data)[0] + "\n" + long_example.dump() + "\n");
  r = test::run_cli("eval --method e2llm --checkpoint " + ckpt.path() + " --data " + dir.file("with-long.jsonl") +
                    " --output " + dir.file("e2llm-long") + " --metric qa --max-new-tokens 3 --no-progress");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto long_lines = lines_of(dir.file("e2llm-long/predictions.jsonl"));
  ASSERT_EQ(long_lines.size(), 2u);
  EXPECT_FALSE(nlohmann::json::parse(long_lines[0]).contains("skipped")) << long_lines[0];
  EXPECT_NE(nlohmann::json::parse(long_lines[1]).value("skipped", "").find("fill the decoder's window of 128"),
            std::string::npos)
      << long_lines[1];
  auto scores = read_json_file(dir.file("e2llm-long/metrics.json")).at("rows").at(0).at("scores");
  EXPECT_EQ(scores.at("n"), 1);
  EXPECT_EQ(scores.at("skipped"), 1);
}

TEST(EvalCliErrors, BadInputIsAOneLineErrorWithExitCode1) {
  TempDir dir;
  write_file_atomic(dir.file("d.jsonl"), R"({"id": "a", "context": "c", "prompt": "p", "answers": ["x"]})" "\n");
  const std::string data = " --data " + dir.file("d.jsonl") + " --output " + dir.file("o");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"eval --method truncate --model m --data " + dir.file("missing.jsonl") + " --output " + dir.file("o"),
       "no such file"},
      {"eval --method bm25 --model m" + data, "unknown --method 'bm25' (choose e2llm, full, truncate or rag)"},
      {"eval --method e2llm --model m" + data, "--model is for the baselines"},
      {"eval --method e2llm --window 512" + data, "--window is for the baselines, not --method e2llm"},
      {"eval --method truncate --model m --system hi" + data, "--system needs --chat"},
      {"eval --method rag" + data, "--method rag needs --model"},
      {"eval --method truncate --model m" + data, "give --metric"},
      {"eval --method truncate --model " + dir.file("nope") + data + " --metric qa", "e2llm: error:"},
  };
  for (const Case& c : cases) {
    test::expect_one_line_error(test::run_cli(c.args), c.message, c.args);
  }
  // Without --checkpoint: $E2LLM_MODEL, else the shipped model.
  auto r = test::run_command("E2LLM_MODEL=" + dir.file("none") + " " + test::cli_path() + " eval --method e2llm" + data);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("E2LLM_MODEL=" + dir.file("none") + ": no such model folder"), std::string::npos)
      << r.output;
}

TEST(EvalCliReal, RagKeepsTheChunkWithTheAnswerOnSmolLM2) {
  E2LLM_REQUIRE_REAL_MODEL(model, "SmolLM2-135M-Instruct.Q4_1.gguf");
  TempDir dir;
  std::string context;
  for (int i = 0; i < 60; ++i)
    context += "Speaker " + std::to_string(i % 3) + ": we talked about item " + std::to_string(i) +
               " of the agenda and moved on.\n";
  context += "Speaker 1: the remote control will be bright yellow and shaped like a banana.\n";
  for (int i = 60; i < 120; ++i) context += "Speaker 2: item " + std::to_string(i) + " was postponed.\n";
  const std::string prompt = "What colour will the remote control be?";
  nlohmann::json ex = {{"id", "real-0"}, {"context", context}, {"prompt", prompt}, {"answers", {"yellow"}}};
  write_file_atomic(dir.file("d.jsonl"), ex.dump() + "\n");

  // Which chunk holds the answer, with the decoder's own tokenizer and chunk size.
  auto tokenizer = Tokenizer::from_file(model);
  std::vector<TokenSpan> spans;
  for (const auto& [b, e] : tokenizer->encode(context, false).byte_offsets) spans.push_back({b, e});
  RagOptions o;
  o.chunker.chunk_size = 48;
  RagSelection sel = rag_select(context, spans, prompt, 48, o);
  ASSERT_EQ(sel.selected.size(), 1u);
  const size_t answer_chunk = sel.selected[0];
  EXPECT_NE(std::string(sel.chunks[answer_chunk].text(context)).find("banana"), std::string::npos);

  auto r = test::run_cli("eval --method rag --model " + model + " --chat --data " + dir.file("d.jsonl") +
                         " --metric qa --window 256 --max-new-tokens 2 --rag-chunk-size 48 --no-progress --output " +
                         dir.file("rag"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(lines_of(dir.file("rag/predictions.jsonl")).at(0));
  EXPECT_LE(j.at("prompt_tokens").get<int>(), 254) << j.dump();
  EXPECT_GT(j.at("prompt_tokens").get<int>(), 180) << j.dump();  // the budget is used, not wasted
  EXPECT_GT(j.at("context_tokens").get<int>(), 1000) << j.dump();
  EXPECT_EQ(j.at("chunks").get<size_t>(), sel.chunks.size()) << j.dump();
  const auto chosen = j.at("selected").get<std::vector<size_t>>();
  EXPECT_NE(std::find(chosen.begin(), chosen.end(), answer_chunk), chosen.end()) << j.dump();
}
