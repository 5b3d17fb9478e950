// `e2llm train` killed with SIGKILL at random steps (possibly while it writes
// a checkpoint) and continued with --resume ends with exactly the weights
// and optimizer moments of a run that was never interrupted.
//
// The kill points come from a seed printed by the test; set
// E2LLM_RESUME_TEST_SEED to replay one. The kill is sent once the child's
// progress line "step N/M" has been read, after a seeded delay between none
// and one step's time (measured on the uninterrupted run): the line is
// written right after optimizer step N and before its checkpoint, so kills
// land in the step-N checkpoint write or the step after it, and step N-1's
// checkpoint is always complete by then. The delay only varies where the
// kill lands; the synchronization is the line.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "e2llm/e2llm/e2llm_model.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/data/synthetic.h"
#include "cli_process.h"
#include "test_e2llm_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

using test::CliProcess;
using test::TempDir;

uint64_t test_seed() {
  if (const char* env = std::getenv("E2LLM_RESUME_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

void expect_same_tensors(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << what << " " << name;
    EXPECT_EQ(t.scalar_type(), it->second.scalar_type()) << what << " " << name;
    EXPECT_TRUE(torch::equal(t, it->second)) << what << " " << name << " differs by up to "
                                             << (t - it->second).abs().max().item<double>();
  }
}

TEST(TrainResumeCli, KilledAtRandomStepsAndResumedEndsWithTheUninterruptedWeights) {
  TempDir dir;
  KvOptions task{.vocabulary = KvVocabulary::closed};
  const test::TinyModels models = test::write_tiny_models(dir.path(), kv_vocabulary(task), 128);
  write_examples(dir.file("train.jsonl"), kv_dataset({.facts = 2, .words = 300, .seed = 5, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7}, 6));

  const E2llmConfig model = test::tiny_e2llm_config(models);
  const int64_t max_steps = 12;
  nlohmann::json config = {
      {"model", model.to_json()},
      {"training",
       {{"max_steps", max_steps}, {"lr", 1e-2}, {"warmup_steps", 2}, {"checkpoint_every", 1}, {"log_every", 1}}},
      {"data", {{"train", "train.jsonl"}}}};
  write_file_atomic(dir.file("config.json"), config.dump(2));
  auto train_args = [&](const std::string& output, bool resume) {
    std::vector<std::string> args = {"--threads", "1", "train", "--config", dir.file("config.json"),
                                     "--output", output};
    if (resume) args.push_back("--resume");
    return args;
  };

  // The uninterrupted run, timing its steps.
  const std::string reference = dir.file("reference");
  double step_s = 0;
  {
    using Clock = std::chrono::steady_clock;
    CliProcess run(train_args(reference, false));
    ASSERT_TRUE(run.started());
    std::string line;
    Clock::time_point second_step, last_step;
    while (run.next_line(line)) {
      if (line.rfind("step 2/", 0) == 0) second_step = Clock::now();
      if (line.rfind("step " + std::to_string(max_steps) + "/", 0) == 0) last_step = Clock::now();
    }
    const int status = run.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run.output();
    step_s = std::chrono::duration<double>(last_step - second_step).count() / static_cast<double>(max_steps - 2);
    ASSERT_GT(step_s, 0.0) << run.output();
  }

  const uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::printf("[          ] kill points from seed %llu (E2LLM_RESUME_TEST_SEED=%llu replays them)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("E2LLM_RESUME_TEST_SEED=" + std::to_string(seed));

  // Two interruptions: the second one kills a resumed run.
  const std::string interrupted = dir.file("interrupted");
  int64_t resumed_from = 0;  // the step the next run starts at
  for (int kill_round = 0; kill_round < 2; ++kill_round) {
    // At least three steps remain after the kill line, so the run cannot
    // finish before the kill reaches it; the first kill leaves room for the
    // second.
    const int64_t first = std::max<int64_t>(2, resumed_from + 1);  // step 1's checkpoint exists before "step 2/"
    const int64_t last = kill_round == 0 ? max_steps / 2 : max_steps - 3;
    if (first > last) break;
    const int64_t kill_at = std::uniform_int_distribution<int64_t>(first, last)(rng);
    const double fraction = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const int delay_us = std::bernoulli_distribution(0.25)(rng) ? 0 : static_cast<int>(fraction * step_s * 1e6);
    SCOPED_TRACE("round " + std::to_string(kill_round) + ": kill after 'step " + std::to_string(kill_at) + "/' + " +
                 std::to_string(delay_us) + " us");
    std::printf("[          ] round %d: resume from step %lld, kill after \"step %lld/%lld\" + %d us\n", kill_round,
                static_cast<long long>(resumed_from), static_cast<long long>(kill_at),
                static_cast<long long>(max_steps), delay_us);

    CliProcess run(train_args(interrupted, kill_round > 0));
    ASSERT_TRUE(run.started());
    const std::string marker = "step " + std::to_string(kill_at) + "/" + std::to_string(max_steps) + " ";
    std::string line;
    bool reached = false;
    while (!reached && run.next_line(line)) reached = line.rfind(marker, 0) == 0;
    ASSERT_TRUE(reached) << "no '" << marker << "' line in:\n" << run.output();
    if (delay_us > 0) ::usleep(static_cast<useconds_t>(delay_us));  // varies where the kill lands, no sync
    run.kill();
    while (run.next_line(line)) {
    }
    const int status = run.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the run ended before it was killed (status " << status << "):\n" << run.output();

    // The latest checkpoint is complete: step N-1, N, or later when the
    // kill came after the next step's line.
    const std::string latest = latest_checkpoint(interrupted);
    ASSERT_FALSE(latest.empty()) << run.output();
    TrainingState state = load_checkpoint(latest);
    EXPECT_GE(state.step, kill_at - 1) << latest;
    EXPECT_LT(state.step, max_steps) << latest;
    int unfinished = 0;  // checkpoint folders the kill interrupted
    for (const auto& entry : std::filesystem::directory_iterator(interrupted))
      unfinished += entry.path().filename().string().rfind(".tmp-", 0) == 0;
    std::printf("[          ] round %d: killed; latest checkpoint is step %lld, %d unfinished checkpoint folder(s)\n",
                kill_round, static_cast<long long>(state.step), unfinished);
    resumed_from = state.step;
  }

  {
    CliProcess run(train_args(interrupted, true));
    ASSERT_TRUE(run.started());
    std::string line;
    while (run.next_line(line)) {
    }
    const int status = run.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run.output();
    EXPECT_NE(run.output().find("trained to step " + std::to_string(max_steps)), std::string::npos) << run.output();
    // The resumed run took the remaining steps only.
    EXPECT_NE(run.output().find("step " + std::to_string(resumed_from + 1) + "/"), std::string::npos)
        << run.output();
    EXPECT_EQ(run.output().find("step " + std::to_string(resumed_from) + "/"), std::string::npos) << run.output();
  }
  for (const auto& entry : std::filesystem::directory_iterator(interrupted))
    EXPECT_NE(entry.path().filename().string().rfind(".tmp-", 0), 0u) << "left behind: " << entry.path();

  const TrainingState a = load_checkpoint(reference), b = load_checkpoint(interrupted);
  // Training moved the weights, so equal weights say something.
  char before_last_folder[32];
  std::snprintf(before_last_folder, sizeof before_last_folder, "/step-%08lld", static_cast<long long>(max_steps - 1));
  const TrainingState before_last = load_checkpoint(reference + before_last_folder);
  ASSERT_EQ(before_last.step, max_steps - 1);
  int moved = 0;
  for (const auto& [name, t] : a.trainable) moved += !torch::equal(t, before_last.trainable.at(name));
  EXPECT_GT(moved, 0);
  EXPECT_EQ(a.step, max_steps);
  EXPECT_EQ(b.step, max_steps);
  expect_same_tensors(a.trainable, b.trainable, "trainable.safetensors");
  expect_same_tensors(a.optimizer, b.optimizer, "optimizer.safetensors");
  EXPECT_EQ(a.optimizer_steps, b.optimizer_steps);
}

}  // namespace
}  // namespace e2llm
