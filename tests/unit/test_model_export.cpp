// Base models by name (io/model_cache.h), `e2llm export`, and the commands
// that find a model without --model (E2LLM_MODEL, the shipped model).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "e2llm/core/error.h"
#include "e2llm/data/synthetic.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/model_cache.h"
#include "test_e2llm_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

using test::ScopedEnv;
using test::TempDir;

TEST(ModelCache, NamesResolveInTheCacheAndPathsStayAsGiven) {
  TempDir cache;
  ScopedEnv env("E2LLM_MODEL_CACHE", cache.path());
  std::filesystem::create_directories(cache.file("some-encoder"));
  EXPECT_EQ(model_cache_dir(), cache.path());
  EXPECT_TRUE(is_model_name("some-encoder"));
  EXPECT_TRUE(is_model_name("SmolLM2-135M-Instruct.Q4_1.gguf"));
  for (const char* path : {"./some-encoder", "/abs/model", "a/b", ".", "..", ""}) EXPECT_FALSE(is_model_name(path)) << path;
  EXPECT_EQ(resolve_model_path("some-encoder"), cache.file("some-encoder"));
  EXPECT_EQ(resolve_model_path("/abs/model"), "/abs/model");
  EXPECT_EQ(resolve_model_path("./missing"), "./missing");
  try {
    resolve_model_path("missing-model");
    ADD_FAILURE() << "a missing name resolved";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'missing-model' is not in the model cache " + cache.path()), std::string::npos) << what;
    EXPECT_NE(what.find("scripts/fetch_models.sh"), std::string::npos) << what;
  }
  EXPECT_EQ(model_name_if_cached(cache.file("some-encoder")), "some-encoder");
  EXPECT_EQ(model_name_if_cached(cache.path() + "/./some-encoder"), "some-encoder");
  EXPECT_EQ(model_name_if_cached("/elsewhere/some-encoder"), "/elsewhere/some-encoder");
  EXPECT_EQ(model_name_if_cached(cache.path()), cache.path());
}

std::string in_cache(const std::string& cache, const std::string& args) {
  return "E2LLM_MODEL_CACHE='" + cache + "' " + test::cli_path() + " --threads 1 " + args;
}

// generate, embed and tokenize take a cached model's name for --model; a file
// or folder that exists as given is used as it is, even with a one-part name.
TEST(ModelCache, PlainCommandsTakeAModelNameAndPreferAPathThatExists) {
  TempDir cache, here;
  KvOptions task{.vocabulary = KvVocabulary::closed};
  const std::vector<std::string> words = kv_vocabulary(task);
  test::write_tiny_models(cache.path(), words, 128);
  const std::string text = words[5] + " " + words[6];
  test::CommandResult r = test::run_command(
      in_cache(cache.path(), "generate --model decoder --prompt '" + text + "' --max-new-tokens 3 --ignore-eos --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output).at("ids").size(), 3u) << r.output;
  r = test::run_command("echo '{\"text\": \"" + text + "\"}' | " + in_cache(cache.path(), "tokenize --model encoder"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"tokens\":[\"[CLS]\",\"" + words[5] + "\""), std::string::npos) << r.output;
  r = test::run_command("echo '{\"text\": \"" + text + "\"}' | " + in_cache(cache.path(), "embed --model encoder"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("{\"embedding\":["), std::string::npos) << r.output;

  // A folder named "decoder" here that is not a model: it is what --model means.
  std::filesystem::create_directories(here.file("decoder"));
  r = test::run_command("cd '" + here.path() + "' && " +
                        in_cache(cache.path(), "generate --model decoder --prompt x --max-new-tokens 1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.output.find("model cache"), std::string::npos) << "the folder here was used: " << r.output;

  r = test::run_command(in_cache(cache.path(), "generate --model missing-model --prompt x"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'missing-model' is not in the model cache " + cache.path()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run scripts/fetch_models.sh"), std::string::npos) << r.output;
}

// A tiny E2LLM model trained for a few steps on base models named in a
// model cache, exported, and used by `answer` without --model.
TEST(ExportCli, TheExportedModelNamesItsBaseModelsAndAnswersAsTheCheckpointDoes) {
  TempDir dir, cache;
  KvOptions task{.vocabulary = KvVocabulary::closed};
  const test::TinyModels models = test::write_tiny_models(cache.path(), kv_vocabulary(task), 128);
  const std::vector<Example> examples =
      kv_dataset({.facts = 2, .words = 200, .seed = 3, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7}, 4);
  write_examples(dir.file("train.jsonl"), examples);
  write_file_atomic(dir.file("context.txt"), examples[0].context);
  nlohmann::json model = test::tiny_e2llm_config(models).to_json();
  model["encoder"] = "encoder";  // names in the model cache
  model["decoder"] = "decoder";
  const nlohmann::json config = {
      {"model", model},
      {"training", {{"max_steps", 2}, {"lr", 1e-2}, {"output_dir", "run"}, {"metrics_log", "metrics.jsonl"}}},
      {"data", {{"train", "train.jsonl"}}}};
  write_file_atomic(dir.file("config.json"), config.dump(2));
  test::CommandResult r = test::run_command(in_cache(cache.path(), "train --quiet --config " + dir.file("config.json")));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  r = test::run_command(in_cache(cache.path(), "export --checkpoint " + dir.file("run") + " --output " +
                                                   dir.file("model")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("exported step 2"), std::string::npos) << r.output;
  const std::string step = latest_checkpoint(dir.file("model"));
  ASSERT_FALSE(step.empty());
  EXPECT_TRUE(file_exists(step + "/trainable.safetensors"));
  EXPECT_FALSE(file_exists(step + "/optimizer.safetensors")) << "an exported model has no optimizer state";
  const nlohmann::json saved = read_json_file(step + "/checkpoint.json");
  EXPECT_EQ(saved.at("config").at("model").at("encoder"), "encoder");
  EXPECT_EQ(saved.at("config").at("model").at("decoder"), "decoder");
  EXPECT_FALSE(saved.at("config").contains("training")) << "training paths stay behind";
  for (const auto& base : saved.at("base_models")) EXPECT_EQ(base.at("path"), base.at("role")) << base.dump();
  const nlohmann::json& provenance = saved.at("extra").at("exported_from");
  EXPECT_EQ(provenance.at("step"), 2);
  EXPECT_EQ(provenance.at("training").at("max_steps"), 2);
  EXPECT_FALSE(provenance.at("training").contains("output_dir"));
  const TrainingState trained = load_checkpoint(dir.file("run")), exported = load_checkpoint(dir.file("model"));
  ASSERT_EQ(trained.trainable.size(), exported.trainable.size());
  for (const auto& [name, t] : trained.trainable) EXPECT_TRUE(torch::equal(t, exported.trainable.at(name))) << name;

  r = test::run_command(in_cache(cache.path(), "export --checkpoint " + dir.file("run") + " --output " +
                                                   dir.file("model")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("exists (--force replaces"), std::string::npos) << r.output;
  r = test::run_command(in_cache(cache.path(), "export --force --checkpoint " + dir.file("run") + " --output " +
                                                   dir.file("model")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(latest_checkpoint(dir.file("model")), step) << "the same step, replaced in place";

  // Neither a forced export nor a new run without --resume writes over a training run.
  const std::string run_step = latest_checkpoint(dir.file("run"));
  r = test::run_command(in_cache(cache.path(), "export --force --checkpoint " + dir.file("model") + " --output " +
                                                   dir.file("run")));
  test::expect_one_line_error(r, "holds a training run");
  r = test::run_command(in_cache(cache.path(), "train --quiet --config " + dir.file("config.json")));
  test::expect_one_line_error(r, "already holds a run");
  EXPECT_EQ(latest_checkpoint(dir.file("run")), run_step);
  EXPECT_TRUE(file_exists(run_step + "/optimizer.safetensors")) << "the run is as it was";

  const std::string question = " answer --max-new-tokens 6 --context " + dir.file("context.txt") + " --question '" +
                               examples[0].prompt + "'";
  const test::CommandResult from_run = test::run_command(in_cache(cache.path(), question + " --model " + dir.file("run")));
  ASSERT_EQ(from_run.exit_code, 0) << from_run.output;
  const test::CommandResult from_env =
      test::run_command("E2LLM_MODEL='" + dir.file("model") + "' " + in_cache(cache.path(), question));
  ASSERT_EQ(from_env.exit_code, 0) << from_env.output;
  EXPECT_EQ(from_env.output, from_run.output);
  const test::CommandResult from_stdin = test::run_command(
      in_cache(cache.path(), "answer --max-new-tokens 6 --context - --question '" + examples[0].prompt + "' --model " +
                                 dir.file("model") + " < " + dir.file("context.txt")));
  EXPECT_EQ(from_stdin.output, from_run.output);

  // Answer defaults recorded at export: answer and eval use them unless told
  // otherwise. Eight forced tokens of a barely trained model repeat some
  // token, which no-repeat n-gram size 1 forbids.
  r = test::run_command(in_cache(cache.path(), "export --checkpoint " + dir.file("run") + " --output " +
                                                   dir.file("penalized") +
                                                   " --repetition-penalty 1.5 --no-repeat-ngram-size 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("answer defaults: repetition penalty 1.5, no-repeat n-gram size 1"), std::string::npos)
      << r.output;
  const nlohmann::json penalized = read_json_file(latest_checkpoint(dir.file("penalized")) + "/checkpoint.json");
  EXPECT_EQ(penalized.at("config").at("model").at("repetition_penalty"), 1.5);
  EXPECT_EQ(penalized.at("config").at("model").at("no_repeat_ngram_size"), 1);
  const std::string forced = " answer --ignore-eos --max-new-tokens 8 --context " + dir.file("context.txt") +
                             " --question '" + examples[0].prompt + "' --model ";
  const std::string plain = test::run_command(in_cache(cache.path(), forced + dir.file("model"))).output;
  const std::string by_default = test::run_command(in_cache(cache.path(), forced + dir.file("penalized"))).output;
  EXPECT_NE(by_default, plain) << "the exported defaults were not applied";
  EXPECT_EQ(by_default, test::run_command(in_cache(cache.path(), forced + dir.file("model") +
                                                                 " --repetition-penalty 1.5 --no-repeat-ngram-size 1"))
                            .output);
  EXPECT_EQ(plain, test::run_command(in_cache(cache.path(), forced + dir.file("penalized") +
                                                              " --repetition-penalty 1 --no-repeat-ngram-size 0"))
                       .output)
      << "the command line wins over the model's defaults";
  r = test::run_command(in_cache(cache.path(), "eval --method e2llm --metric qa --no-progress --limit 1 --max-new-tokens 2 --data " +
                                                   dir.file("train.jsonl") + " --checkpoint " + dir.file("penalized") +
                                                   " --output " + dir.file("eval")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json settings = read_json_file(dir.file("eval") + "/run.json");
  EXPECT_EQ(settings.at("repetition_penalty"), 1.5) << settings.dump();
  EXPECT_EQ(settings.at("no_repeat_ngram_size"), 1) << settings.dump();

  // A run that started from the exported model (training.init_from): its
  // export names those tensors by their folder, not by this machine's path.
  nlohmann::json continued = config;
  continued["training"]["init_from"] = dir.file("model") + "/";
  continued["training"]["output_dir"] = "run2";
  write_file_atomic(dir.file("config2.json"), continued.dump(2));
  r = test::run_command(in_cache(cache.path(), "train --quiet --config " + dir.file("config2.json")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = test::run_command(in_cache(cache.path(), "export --checkpoint " + dir.file("run2") + " --output " +
                                                   dir.file("model2")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json again = read_json_file(latest_checkpoint(dir.file("model2")) + "/checkpoint.json");
  EXPECT_EQ(again.at("extra").at("exported_from").at("training").at("init_from"), "model") << again.dump();

  // The base models gone: the error says what to run.
  TempDir empty;
  r = test::run_command(in_cache(empty.path(), question + " --model " + dir.file("model")));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("run scripts/fetch_models.sh"), std::string::npos) << r.output;
  r = test::run_command("E2LLM_MODEL='" + dir.file("nothing") + "' " + in_cache(cache.path(), question));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("E2LLM_MODEL=" + dir.file("nothing") + ": no such model folder"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace e2llm
