// Data-parallel `e2llm train` on loopback (c10d Gloo): two processes sharing
// a global batch train the same weights as one process accumulating it, a
// checkpoint resumes under another process count, and a killed worker ends
// the job with a clear error and an intact checkpoint.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_process.h"
#include "e2llm/data/synthetic.h"
#include "e2llm/io/checkpoint.h"
#include "e2llm/io/fs.h"
#include "e2llm/train/distributed.h"
#include "test_e2llm_models.h"
#include "test_util.h"

namespace e2llm {
namespace {

using test::CliProcess;
using test::TempDir;

// A tiny E2LLM training job: 4 micro-batches per step (the global batch).
class DistributedTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    KvOptions task{.vocabulary = KvVocabulary::closed};
    const test::TinyModels models = test::write_tiny_models(dir_.path(), kv_vocabulary(task), 128);
    write_examples(dir_.file("train.jsonl"),
                   kv_dataset({.facts = 2, .words = 300, .seed = 5, .vocabulary = KvVocabulary::closed, .min_fact_gap = 7},
                              8));
    config_ = {{"model", test::tiny_e2llm_config(models).to_json()},
               {"training",
                {{"max_steps", 4}, {"lr", 1e-2}, {"warmup_steps", 1}, {"grad_accum", 4}, {"log_every", 1}}},
               {"data", {{"train", "train.jsonl"}}}};
    write_config();
  }
  void write_config() { write_file_atomic(dir_.file("config.json"), config_.dump(2)); }

  // Runs `e2llm --threads 2 train ... --output <output>` to the end, its
  // metrics log beside the output folder.
  std::string train(const std::string& output, std::vector<std::string> extra = {}) {
    config_["training"]["metrics_log"] = output + ".metrics.jsonl";
    write_config();
    std::vector<std::string> args = {"--threads", "2", "train", "--config", dir_.file("config.json"), "--output",
                                     dir_.file(output)};
    args.insert(args.end(), extra.begin(), extra.end());
    CliProcess run(args);
    EXPECT_TRUE(run.started());
    std::string line;
    while (run.next_line(line)) {
    }
    const int status = run.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run.output();
    return run.output();
  }

  // The per-step losses of the metrics log in `output`.
  std::vector<double> losses(const std::string& output) {
    std::ifstream in(dir_.file(output + ".metrics.jsonl"));
    std::vector<double> out;
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("loss")) out.push_back(j["loss"].get<double>());
    }
    return out;
  }

  TempDir dir_;
  nlohmann::json config_;
};

// Largest |a - b| over the tensors, which must have the same names and shapes.
double max_difference(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double most = 0;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.sizes() != t.sizes()) {
      ADD_FAILURE() << "missing or misshapen: " << name;
      continue;
    }
    most = std::max(most, (t.to(torch::kFloat64) - it->second.to(torch::kFloat64)).abs().max().item<double>());
  }
  return most;
}

void expect_same_training(const TrainingState& one, const TrainingState& other, const std::string& what) {
  EXPECT_EQ(one.step, other.step) << what;
  EXPECT_EQ(one.optimizer_steps, other.optimizer_steps) << what;
  // Summing gradients over ranks only reorders float additions.
  const double weights = max_difference(one.trainable, other.trainable);
  const double moments = max_difference(one.optimizer, other.optimizer);
  std::printf("[          ] %s: weights differ by up to %.3g, optimizer moments by %.3g\n", what.c_str(), weights,
              moments);
  EXPECT_LT(weights, 2e-5) << what;
  EXPECT_LT(moments, 2e-5) << what;
}

void expect_close_losses(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(a[i])) << "step " << i + 1;
}

TEST_F(DistributedTraining, TwoProcessesTrainTheWeightsOfOneProcessAccumulatingTheSameBatch) {
  train("one");
  const std::string two_output = train("two", {"--nproc", "2"});
  EXPECT_NE(two_output.find("2 workers on 127.0.0.1:"), std::string::npos) << two_output;
  EXPECT_NE(two_output.find("trained to step 4"), std::string::npos) << two_output;

  const TrainingState one = load_checkpoint(dir_.file("one")), two = load_checkpoint(dir_.file("two"));
  expect_same_training(one, two, "1 process vs 2");
  // Training moved the weights by far more than the tolerance.
  config_["training"]["max_steps"] = 1;
  write_config();
  train("first-step");
  EXPECT_GT(max_difference(one.trainable, load_checkpoint(dir_.file("first-step")).trainable), 1e-3);
  expect_close_losses(losses("one"), losses("two"));
  EXPECT_EQ(losses("one").size(), 4u);
}

TEST_F(DistributedTraining, ACheckpointResumesUnderAnotherNumberOfProcesses) {
  train("straight");
  train("two-then-one", {"--nproc", "2", "--max-steps", "2"});
  EXPECT_EQ(load_checkpoint(dir_.file("two-then-one")).step, 2);
  train("two-then-one", {"--resume"});
  train("one-then-two", {"--max-steps", "2"});
  train("one-then-two", {"--nproc", "2", "--resume"});
  const TrainingState straight = load_checkpoint(dir_.file("straight"));
  expect_same_training(straight, load_checkpoint(dir_.file("two-then-one")), "2 processes, resumed in 1");
  expect_same_training(straight, load_checkpoint(dir_.file("one-then-two")), "1 process, resumed in 2");
}

// Starts a long 2-process job, sends `signal` to rank 1 after step 3, and
// returns the job's output once it ended, checking that it failed within
// `within_s` and left a loadable checkpoint.
std::string stop_a_worker(const std::string& config, const std::string& output, int signal,
                          const std::string& timeout_s, double within_s) {
  using Clock = std::chrono::steady_clock;
  CliProcess run({"--threads", "2", "train", "--config", config, "--output", output, "--nproc", "2",
                  "--dist-timeout", timeout_s});
  EXPECT_TRUE(run.started());
  std::string line;
  std::vector<pid_t> workers;
  bool third_step = false;
  while (!third_step && run.next_line(line)) {
    if (line.find("workers on 127.0.0.1:") != std::string::npos) {
      std::istringstream pids(line.substr(line.find("(pids") + 5));
      for (int pid = 0; pids >> pid;) workers.push_back(pid);
    }
    third_step = line.rfind("step 3/", 0) == 0;
  }
  EXPECT_TRUE(third_step) << run.output();
  EXPECT_EQ(workers.size(), 2u) << run.output();
  if (!third_step || workers.size() != 2) return run.output();
  EXPECT_EQ(::kill(workers[1], signal), 0);
  const auto stopped_at = Clock::now();
  while (run.next_line(line)) {
  }
  const int status = run.wait();
  const double seconds = std::chrono::duration<double>(Clock::now() - stopped_at).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << run.output();
  EXPECT_LT(seconds, within_s) << run.output();
  EXPECT_NE(run.output().find("the job failed"), std::string::npos) << run.output();
  EXPECT_GE(load_checkpoint(output).step, 2) << run.output();
  return run.output() + "\nrank 1 pid " + std::to_string(workers[1]);
}

TEST_F(DistributedTraining, AKilledWorkerEndsTheJobWithAClearErrorAndTheCheckpointLoads) {
  config_["training"]["max_steps"] = 100000;
  config_["training"]["checkpoint_every"] = 1;
  write_config();
  // Rank 0 notices at once (the connection breaks); the launcher's grace is 10 s.
  const std::string out = stop_a_worker(dir_.file("config.json"), dir_.file("killed"), SIGKILL, "60", 30);
  const std::string pid = out.substr(out.rfind("rank 1 pid ") + 11);
  EXPECT_NE(out.find("worker rank 1 (pid " + pid + ") was killed by signal 9"), std::string::npos) << out;
  EXPECT_NE(out.find("distributed training: "), std::string::npos) << out;  // rank 0's own account
  EXPECT_NE(out.find("last good checkpoint: "), std::string::npos) << out;
}

TEST_F(DistributedTraining, AHungWorkerEndsTheJobAfterTheTimeout) {
  config_["training"]["max_steps"] = 100000;
  config_["training"]["checkpoint_every"] = 1;
  write_config();
  // SIGSTOP: rank 1 neither answers nor closes its connections. Rank 0 gives
  // up after --dist-timeout 5 s, the launcher stops rank 1 10 + 5 s later.
  const std::string out = stop_a_worker(dir_.file("config.json"), dir_.file("hung"), SIGSTOP, "5", 40);
  EXPECT_NE(out.find("worker rank 0"), std::string::npos) << out;
  EXPECT_NE(out.find("distributed training: "), std::string::npos) << out;
}

// Ctrl-C to `e2llm train`, or to the --nproc launcher: the step in progress
// ends, a checkpoint is written, the process ends by SIGINT (so that a script
// running it stops too), and --resume goes on from there.
TEST_F(DistributedTraining, CtrlCStopsAfterTheStepWithACheckpointAndResumeGoesOn) {
  config_["training"]["max_steps"] = 100000;  // checkpoint_every 0: only the stop writes one
  write_config();
  for (const std::string name : {"one", "two"}) {
    std::vector<std::string> args = {"--threads", "2", "train", "--config", dir_.file("config.json"), "--output",
                                     dir_.file(name)};
    if (name == "two") args.insert(args.end(), {"--nproc", "2"});
    CliProcess run(args);
    ASSERT_TRUE(run.started());
    std::string line;
    bool third_step = false;
    while (!third_step && run.next_line(line)) third_step = line.rfind("step 3/", 0) == 0;
    ASSERT_TRUE(third_step) << run.output();
    run.interrupt();
    while (run.next_line(line)) {
    }
    const int status = run.wait();
    const std::string& out = run.output();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << name << ": " << out;
    EXPECT_NE(out.find("stopping after this step, with a checkpoint"), std::string::npos) << out;
    EXPECT_EQ(out.find("the job failed"), std::string::npos) << out;
    const int64_t step = load_checkpoint(dir_.file(name)).step;
    EXPECT_GE(step, 3) << out;
    EXPECT_NE(out.find(fmt::format("stopping at step {}: asked to stop", step)), std::string::npos) << out;
    EXPECT_NE(out.find(fmt::format("trained to step {} (stopped by a signal", step)), std::string::npos) << out;
    const std::string resumed = train(name, {"--resume", "--max-steps", std::to_string(step + 2)});
    EXPECT_NE(resumed.find(fmt::format("trained to step {};", step + 2)), std::string::npos) << resumed;
  }
}

TEST(DistributedConfig, ReadsTheTorchrunVariablesAndRefusesBadValues) {
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "3", 1);
  ::setenv("MASTER_ADDR", "10.0.0.7", 1);
  ::setenv("MASTER_PORT", "1234", 1);
  DistributedConfig c = DistributedConfig::from_environment();
  EXPECT_EQ(c.rank, 1);
  EXPECT_EQ(c.world_size, 3);
  EXPECT_EQ(c.master_addr, "10.0.0.7");
  EXPECT_EQ(c.master_port, 1234);
  EXPECT_NO_THROW(c.validate());
  ::setenv("WORLD_SIZE", "two", 1);
  EXPECT_THROW(DistributedConfig::from_environment(), Error);
  for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
  c = DistributedConfig::from_environment();
  EXPECT_EQ(c.rank, 0);
  EXPECT_EQ(c.world_size, 1);
  c.rank = 3;
  c.world_size = 3;
  EXPECT_THROW(c.validate(), Error);
  c.rank = 0;
  c.master_port = 70000;
  EXPECT_THROW(c.validate(), Error);
}

TEST_F(DistributedTraining, BadDistributedOptionsAreOneLineErrors) {
  auto error_of = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--config", dir_.file("config.json"), "--output", dir_.file("bad")};
    args.insert(args.end(), extra.begin(), extra.end());
    CliProcess run(args);
    std::string line;
    while (run.next_line(line)) {
    }
    const int status = run.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << run.output();
    return run.output();
  };
  EXPECT_NE(error_of({"--master", "nohost"}).find("expected ADDR:PORT"), std::string::npos);
  EXPECT_NE(error_of({"--master", "127.0.0.1:http", "--world-size", "2"}).find("is not a number"), std::string::npos);
  EXPECT_NE(error_of({"--rank", "2", "--world-size", "2"}).find("rank 2 is outside 0..1"), std::string::npos);
  EXPECT_NE(error_of({"--nproc", "2", "--rank", "0"}).find("does not combine"), std::string::npos);
  EXPECT_NE(error_of({"--nproc", "8"}).find("grad_accum (4)"), std::string::npos);
}

}  // namespace
}  // namespace e2llm
