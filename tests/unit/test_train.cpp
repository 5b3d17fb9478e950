#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "e2llm/io/checkpoint.h"
#include "e2llm/core/error.h"
#include "e2llm/train/trainer.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

// Regression y = x·W* + b* through a 2-layer net with dropout (so the torch
// RNG matters), data drawn from the trainer's data RNG.
class ToyTask : public TrainTask {
 public:
  explicit ToyTask(std::string base_fingerprint = "f00d") : base_fingerprint_(std::move(base_fingerprint)) {
    torch::manual_seed(123);
    target_ = torch::randn({4, 2});
    l1_ = torch::nn::Linear(4, 16);
    l2_ = torch::nn::Linear(16, 2);
  }
  std::vector<std::pair<std::string, torch::Tensor>> named_trainable() override {
    std::vector<std::pair<std::string, torch::Tensor>> named = {
        {"l1.weight", l1_->weight}, {"l1.bias", l1_->bias}, {"l2.weight", l2_->weight}, {"l2.bias", l2_->bias}};
    named.insert(named.end(), extra.begin(), extra.end());
    return named;
  }
  MicroBatchLoss micro_batch_loss(std::mt19937_64& rng) override {
    ++calls;
    if (calls == crash_at_call) throw std::runtime_error("simulated crash");
    std::normal_distribution<float> normal;
    auto x = torch::empty({8, 4});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_ptr<float>()[i] = normal(rng);
    auto pred = l2_->forward(torch::dropout(torch::relu(l1_->forward(x)), dropout, true));
    auto loss = torch::mse_loss(pred, torch::matmul(x, target_));
    if (calls == nan_at_call) {
      before_nan = l1_->weight.detach().clone();
      loss = loss * std::numeric_limits<float>::quiet_NaN();
    }
    return {loss, {{"mse", loss.item<double>()}, {"half", loss.item<double>() / 2}}, 8};
  }
  std::vector<std::string> loss_parts() const override { return {"mse", "half"}; }
  void initialize() override { ++initializations; }
  std::map<std::string, double> evaluate() override {
    ++evals;
    return {{"weight_norm", l1_->weight.norm().item<double>()}};
  }
  bool parameter_active(const std::string& name, int64_t step) override {
    return step >= freeze_l2_until || name.rfind("l2.", 0) != 0;
  }
  nlohmann::json config() const override { return {{"toy", true}}; }
  std::vector<BaseModelIdentity> base_models() const override {
    return {{"decoder", "/models/toy", "c0ffee", base_fingerprint_}};
  }

  torch::nn::Linear l1_{nullptr}, l2_{nullptr};
  int calls = 0, crash_at_call = -1, nan_at_call = -1, evals = 0, initializations = 0;
  int64_t freeze_l2_until = 0;
  double dropout = 0.1;
  torch::Tensor before_nan;
  std::vector<std::pair<std::string, torch::Tensor>> extra;  // more parameters, unused by the loss

 private:
  torch::Tensor target_;
  std::string base_fingerprint_;
};

TrainOptions toy_options(const std::string& dir, int64_t max_steps) {
  TrainOptions o;
  o.max_steps = max_steps;
  o.lr = 3e-2;
  o.warmup_steps = 3;
  o.grad_accum = 2;
  o.max_grad_norm = 0.5;
  o.weight_decay = 0.1;
  o.output_dir = dir;
  o.progress = false;
  o.seed = 9;
  return o;
}

std::vector<torch::Tensor> weights_of(ToyTask& task) {
  std::vector<torch::Tensor> out;
  for (auto& [n, p] : task.named_trainable()) out.push_back(p.detach().clone());
  return out;
}

// The error a Trainer raises while it is set up (resuming or starting from
// another run's tensors), or a text no test expects when it raises none.
std::string setup_error(ToyTask& task, const TrainOptions& o) {
  try {
    Trainer trainer(task, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error: the trainer was set up)";
}

}  // namespace

TEST(LearningRate, WarmsUpLinearlyThenFollowsACosineToTheFloor) {
  TrainOptions o;
  o.lr = 1.0;
  o.warmup_steps = 4;
  o.max_steps = 24;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 0), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 3), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate_at(o, 4), 1.0);
  EXPECT_NEAR(learning_rate_at(o, 14), 0.55, 1e-12);  // half-way through the cosine
  EXPECT_NEAR(learning_rate_at(o, 24), 0.1, 1e-12);
  for (int64_t s = 5; s <= 24; ++s) EXPECT_LT(learning_rate_at(o, s), learning_rate_at(o, s - 1));
}

TEST(TrainOptionsJson, RoundTripsAndRejectsUnknownOrMistypedKeys) {
  TrainOptions o = toy_options("/tmp/x", 77);
  TrainOptions back = TrainOptions::from_json(o.to_json());
  EXPECT_EQ(back.to_json(), o.to_json());
  EXPECT_THROW(TrainOptions::from_json({{"learning_rate", 1e-3}}), Error);
  try {
    TrainOptions::from_json({{"max_steps", "many"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training.max_steps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TrainOptions::from_json({{"grad_accum", 0}}), Error);
}

TEST(Trainer, LossFallsOnAToyRegression) {
  ToyTask task;
  TrainOptions o = toy_options("", 150);
  Trainer trainer(task, o);
  auto first = task.micro_batch_loss(*std::make_unique<std::mt19937_64>(1)).loss.item<double>();
  TrainResult r = trainer.run();
  EXPECT_EQ(r.steps, 150);
  EXPECT_LT(r.last_loss, first * 0.2) << "first " << first << " last " << r.last_loss;
  EXPECT_TRUE(r.last_checkpoint.empty());
}

TEST(Trainer, ResumeAfterACrashIsBitIdenticalToAnUninterruptedRun) {
  TempDir a, b;
  ToyTask straight;
  TrainOptions oa = toy_options(a.path(), 20);
  Trainer(straight, oa).run();

  ToyTask crashing;
  crashing.crash_at_call = 2 * 10 + 1;  // the first micro-batch of step 11
  TrainOptions ob = toy_options(b.path(), 20);
  ob.checkpoint_every = 5;
  EXPECT_THROW(Trainer(crashing, ob).run(), std::runtime_error);
  EXPECT_EQ(load_checkpoint(b.path()).step, 10);

  ToyTask resumed;  // fresh process state: other initial weights are overwritten
  ob.resume = true;
  TrainResult r = Trainer(resumed, ob).run();
  EXPECT_EQ(r.steps, 20);
  // Data-dependent set-up runs once per fresh run and never on resume.
  EXPECT_EQ(straight.initializations, 1);
  EXPECT_EQ(crashing.initializations, 1);
  EXPECT_EQ(resumed.initializations, 0);
  auto wa = weights_of(straight), wb = weights_of(resumed);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
  // Checkpoints agree too, optimizer moments included.
  TrainingState ca = load_checkpoint(a.path()), cb = load_checkpoint(b.path());
  ASSERT_EQ(ca.optimizer.size(), cb.optimizer.size());
  for (const auto& [name, t] : ca.optimizer) EXPECT_TRUE(torch::equal(t, cb.optimizer.at(name))) << name;
  EXPECT_EQ(ca.optimizer_steps, cb.optimizer_steps);
}

TEST(Trainer, SeveralMicroBatchesPerPassTakeTheSameStepsAsOneAtATime) {
  // Without dropout: a pass seeds torch's RNG once, from its first micro-batch.
  auto train = [](int64_t per_pass) {
    auto task = std::make_unique<ToyTask>();
    task->dropout = 0;
    TrainOptions o = toy_options("", 12);
    o.grad_accum = 5;
    o.micro_batches_per_pass = per_pass;
    Trainer(*task, o).run();
    EXPECT_EQ(task->calls, 12 * 5);
    return weights_of(*task);
  };
  auto one = train(1), passes = train(2), all = train(8);  // 2+2+1 and 5 per step
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(torch::allclose(one[i], passes[i], 1e-5, 1e-7)) << "parameter " << i;
    EXPECT_TRUE(torch::allclose(one[i], all[i], 1e-5, 1e-7)) << "parameter " << i;
  }
  EXPECT_THROW(TrainOptions::from_json({{"micro_batches_per_pass", 0}}), Error);
}

TEST(Trainer, NanLossStopsBeforeUpdatingAndKeepsTheLastCheckpoint) {
  TempDir dir;
  ToyTask task;
  task.nan_at_call = 2 * 7 + 1;  // step 7 (0-based), first micro-batch
  TrainOptions o = toy_options(dir.path(), 20);
  o.checkpoint_every = 5;
  try {
    Trainer(task, o).run();
    FAIL() << "expected the NaN to stop training";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("loss is nan at step 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step-00000005"), std::string::npos) << msg;
  }
  EXPECT_TRUE(torch::equal(task.l1_->weight.detach(), task.before_nan));
  TrainingState saved = load_checkpoint(dir.path());
  EXPECT_EQ(saved.step, 5);
}

TEST(Trainer, ResumeRefusesACheckpointOfAnotherBaseModel) {
  TempDir dir;
  ToyTask task("f00d");
  Trainer(task, toy_options(dir.path(), 3)).run();
  ToyTask other("beef");
  TrainOptions o = toy_options(dir.path(), 6);
  o.resume = true;
  const std::string msg = setup_error(other, o);
  EXPECT_NE(msg.find("weights f00d"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights beef"), std::string::npos) << msg;
}

TEST(Trainer, InitFromStartsFromAnotherRunsTensorsAtStepZero) {
  TempDir first, second, third;
  ToyTask trained;
  Trainer(trained, toy_options(first.path(), 8)).run();

  ToyTask fresh;  // other initial weights, then the first run's
  TrainOptions o = toy_options(second.path(), 3);
  o.init_from = first.path();  // a run folder: its latest step
  Trainer trainer(fresh, o);
  EXPECT_EQ(trainer.step(), 0);
  EXPECT_EQ(fresh.initializations, 0);  // the tensors come from the checkpoint, calibration included
  auto wa = weights_of(trained), wb = weights_of(fresh);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
  EXPECT_EQ(trainer.run().steps, 3);
  const TrainingState saved = load_checkpoint(second.path());
  EXPECT_EQ(saved.step, 3);
  EXPECT_EQ(saved.config["training"]["init_from"], first.path());

  ToyTask other("beef");  // another base model is refused, naming both
  TrainOptions refused = toy_options(third.path(), 3);
  refused.init_from = first.path();
  const std::string msg = setup_error(other, refused);
  EXPECT_NE(msg.find("weights beef"), std::string::npos) << msg;
}

TEST(Trainer, InitFromMayAddLoraLayersButNothingElse) {
  TempDir first, second, third;
  ToyTask trained;
  Trainer(trained, toy_options(first.path(), 4)).run();

  // More LoRA targets than the source had: the new factors keep their init.
  ToyTask grown;
  const torch::Tensor a = torch::randn({2, 16}).requires_grad_(), b = torch::zeros({4, 2}).requires_grad_();
  const torch::Tensor a_before = a.detach().clone();
  grown.extra = {{"decoder_lora.l3.lora_A.weight", a}, {"decoder_lora.l3.lora_B.weight", b}};
  TrainOptions o = toy_options(second.path(), 2);
  o.init_from = first.path();
  Trainer trainer(grown, o);
  auto wa = weights_of(trained), wb = weights_of(grown);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
  EXPECT_TRUE(torch::equal(a.detach(), a_before));
  EXPECT_EQ(b.detach().abs().sum().item<float>(), 0.0f);

  // Any other tensor the source lacks is still refused, by name.
  ToyTask odd;
  odd.extra = {{"l3.weight", torch::randn({4, 2}).requires_grad_()}};
  TrainOptions refused = toy_options(third.path(), 2);
  refused.init_from = first.path();
  const std::string msg = setup_error(odd, refused);
  EXPECT_NE(msg.find("missing tensor 'l3.weight'"), std::string::npos) << msg;
}

TEST(Trainer, WritesOneMetricsLinePerStepAndEvaluatesPeriodically) {
  TempDir dir;
  ToyTask task;
  TrainOptions o = toy_options("", 6);
  o.metrics_log = dir.file("not-yet/made/metrics.jsonl");
  o.eval_every = 3;
  TrainResult r = Trainer(task, o).run();
  EXPECT_EQ(task.evals, 2);
  EXPECT_TRUE(r.last_eval.count("weight_norm"));
  std::ifstream in(o.metrics_log);
  std::string line;
  int steps = 0, evals = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) {
      ++evals;
      EXPECT_EQ(j["step"].get<int>() % 3, 0);
      continue;
    }
    ++steps;
    EXPECT_EQ(j["step"].get<int>(), steps);
    for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s"}) EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j["parts"].contains("mse"));
  }
  EXPECT_EQ(steps, 6);
  EXPECT_EQ(evals, 2);
}

TEST(Trainer, StagedScheduleLeavesInactiveParametersUntouched) {
  ToyTask task;
  task.freeze_l2_until = 3;
  auto l2_before = task.l2_->weight.detach().clone();
  auto l1_before = task.l1_->weight.detach().clone();
  Trainer(task, toy_options("", 3)).run();
  EXPECT_TRUE(torch::equal(task.l2_->weight.detach(), l2_before));
  EXPECT_FALSE(torch::equal(task.l1_->weight.detach(), l1_before));
}

TEST(Trainer, MaxTimeStopsEarlyAndSavesACheckpoint) {
  class SlowTask : public ToyTask {
    MicroBatchLoss micro_batch_loss(std::mt19937_64& rng) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return ToyTask::micro_batch_loss(rng);
    }
  };
  TempDir dir;
  SlowTask task;
  TrainOptions o = toy_options(dir.path(), 100000);
  o.max_time_s = 0.3;
  TrainResult r = Trainer(task, o).run();
  EXPECT_TRUE(r.stopped_by_time);
  // A step is two micro-batches of at least 20 ms: 0.3 s holds at most 7, and
  // the step under way when the time runs out is finished.
  EXPECT_LE(r.steps, 8);
  EXPECT_GT(r.steps, 0);
  EXPECT_EQ(load_checkpoint(dir.path()).step, r.steps);
}

TEST(Trainer, AStopRequestEndsTheStepInProgressWithACheckpointAndResumesBitIdentically) {
  TempDir a, b;
  ToyTask straight;
  Trainer(straight, toy_options(a.path(), 12)).run();

  // The flag is set in the middle of step 5 (its second micro-batch), as a
  // signal handler would: step 5 still completes, then training stops.
  class StoppingTask : public ToyTask {
   public:
    std::atomic<bool> stop{false};
    MicroBatchLoss micro_batch_loss(std::mt19937_64& rng) override {
      if (calls == 2 * 4 + 1) stop = true;
      return ToyTask::micro_batch_loss(rng);
    }
  };
  StoppingTask stopping;
  Trainer trainer(stopping, toy_options(b.path(), 12));
  trainer.set_stop_flag(stopping.stop);
  TrainResult r = trainer.run();
  EXPECT_TRUE(r.stopped_on_request);
  EXPECT_FALSE(r.stopped_by_time);
  EXPECT_EQ(r.steps, 5);
  EXPECT_EQ(load_checkpoint(b.path()).step, 5);

  ToyTask resumed;
  TrainOptions o = toy_options(b.path(), 12);
  o.resume = true;
  EXPECT_EQ(Trainer(resumed, o).run().steps, 12);
  auto wa = weights_of(straight), wb = weights_of(resumed);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::equal(wa[i], wb[i])) << "parameter " << i;
}
