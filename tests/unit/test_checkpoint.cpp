#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "e2llm/io/checkpoint.h"
#include "e2llm/io/checkpoint_json.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "e2llm/io/weights.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

TrainingState sample_state(int64_t step) {
  TrainingState s;
  s.step = step;
  s.config = {{"adapter", {{"hidden", 32}}}};
  s.base_models = {{"encoder", "/m/enc", "0123456789abcdef", "fedcba9876543210"}};
  s.trainable = {{"adapter.fc1.weight", torch::randn({3, 4})}, {"marker.begin", torch::randn({4})}};
  s.optimizer = {{"adapter.fc1.weight.exp_avg", torch::randn({3, 4})},
                 {"adapter.fc1.weight.exp_avg_sq", torch::rand({3, 4})}};
  s.optimizer_steps = {{"adapter.fc1.weight", step}};
  s.torch_rng_state = torch::globalContext().defaultGenerator(torch::kCPU).get_state();
  s.data_rng_state = "1 2 3";
  return s;
}

}  // namespace

TEST(Checkpoint, RoundTripsEveryField) {
  TempDir dir;
  TrainingState s = sample_state(12);
  std::string folder = save_checkpoint(dir.path(), s);
  EXPECT_EQ(folder, dir.path() + "/step-00000012");
  EXPECT_EQ(latest_checkpoint(dir.path()), folder);
  TrainingState back = load_checkpoint(dir.path());
  EXPECT_EQ(back.step, 12);
  EXPECT_EQ(back.config, s.config);
  ASSERT_EQ(back.base_models.size(), 1u);
  EXPECT_TRUE(back.base_models[0].same_model(s.base_models[0]));
  for (const auto& [k, t] : s.trainable) EXPECT_TRUE(torch::equal(back.trainable.at(k), t)) << k;
  for (const auto& [k, t] : s.optimizer) EXPECT_TRUE(torch::equal(back.optimizer.at(k), t)) << k;
  EXPECT_EQ(back.optimizer.size(), s.optimizer.size());  // the RNG is not an optimizer tensor
  EXPECT_TRUE(torch::equal(back.torch_rng_state, s.torch_rng_state));
  EXPECT_EQ(back.optimizer_steps, s.optimizer_steps);
  EXPECT_EQ(back.data_rng_state, "1 2 3");
  // A step folder can be loaded directly too.
  EXPECT_EQ(load_checkpoint(folder).step, 12);
  // Either path names the same step folder.
  EXPECT_EQ(checkpoint_folder(dir.path()), folder);
  EXPECT_EQ(checkpoint_folder(folder), folder);
}

TEST(Checkpoint, ConfigAloneIsReadWithoutTheTensors) {
  TempDir dir;
  const std::string folder = save_checkpoint(dir.path(), sample_state(7));
  // Proof that no tensor is read: the config still comes back with the tensor files gone.
  std::filesystem::remove(folder + "/trainable.safetensors");
  std::filesystem::remove(folder + "/optimizer.safetensors");
  EXPECT_EQ(load_checkpoint_config(dir.path()), sample_state(7).config);
  EXPECT_EQ(load_checkpoint_config(folder), sample_state(7).config);
  EXPECT_THROW(load_checkpoint(folder), Error);
  TempDir empty;
  EXPECT_THROW(load_checkpoint_config(empty.path()), Error);
}

TEST(Checkpoint, KeepsOnlyTheNewestAndSurvivesALeftoverTempFolder) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/.tmp-step-00000009-abc123");  // a crash mid-write
  for (int64_t step : {5, 10, 15, 20}) save_checkpoint(dir.path(), sample_state(step), 2);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/step-00000005"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/step-00000010"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/step-00000015"));
  EXPECT_EQ(load_checkpoint(dir.path()).step, 20);
  // Saving the same step again replaces it.
  TrainingState again = sample_state(20);
  again.data_rng_state = "again";
  save_checkpoint(dir.path(), again, 2);
  EXPECT_EQ(load_checkpoint(dir.path()).data_rng_state, "again");
  // An earlier step saved last (an export replacing a later one) is kept, with
  // the newest of the others.
  save_checkpoint(dir.path(), sample_state(3), 2);
  EXPECT_EQ(load_checkpoint(dir.path()).step, 3);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/step-00000020"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/step-00000015"));
  save_checkpoint(dir.path(), sample_state(2), 1);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/step-00000020"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/step-00000003"));
  EXPECT_EQ(load_checkpoint(dir.path()).step, 2);
}

TEST(Checkpoint, ErrorsNameThePath) {
  TempDir dir;
  try {
    load_checkpoint(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path()), std::string::npos);
  }
  EXPECT_EQ(latest_checkpoint(dir.path()), "");
  try {
    checkpoint_folder(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + ": not a checkpoint"), std::string::npos) << e.what();
  }
}

TEST(BaseModelIdentity, FingerprintFollowsConfigAndWeightsNotThePath) {
  TempDir dir;
  torch::manual_seed(4);
  std::map<std::string, torch::Tensor> tensors = {
      {"a.weight", torch::randn({4, 4})}, {"b.weight", torch::randn({4, 4})}, {"c.weight", torch::randn({4})}};
  save_safetensors(dir.file("one.safetensors"), tensors);
  tensors["b.weight"][1][1] = 0.5f;  // the middle tensor changes
  save_safetensors(dir.file("two.safetensors"), tensors);
  nlohmann::json config = {{"hidden_size", 4}};
  auto one = identify_base_model("decoder", "x", *open_weights(dir.file("one.safetensors")), config);
  auto one_elsewhere = identify_base_model("decoder", "y", *open_weights(dir.file("one.safetensors")), config);
  auto two = identify_base_model("decoder", "x", *open_weights(dir.file("two.safetensors")), config);
  auto other_config =
      identify_base_model("decoder", "x", *open_weights(dir.file("one.safetensors")), {{"hidden_size", 8}});
  EXPECT_TRUE(one.same_model(one_elsewhere));
  EXPECT_FALSE(one.same_model(two));
  EXPECT_FALSE(one.same_model(other_config));
  EXPECT_EQ(one.config_hash.size(), 16u);

  EXPECT_NO_THROW(check_base_models({one}, {one_elsewhere}));
  try {
    check_base_models({one}, {two});
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(one.weight_fingerprint), std::string::npos) << msg;
    EXPECT_NE(msg.find(two.weight_fingerprint), std::string::npos) << msg;
  }
  EXPECT_THROW(check_base_models({one}, {}), Error);
}

// The fingerprints of the real GGUF decoders, as checkpoints trained so far
// recorded them (when every fingerprinted tensor was dequantized whole):
// hashing a quantized tensor row by row must give the same value, or every
// existing checkpoint would be refused as "another base model".
TEST(BaseModel, QuantizedFingerprintsMatchThoseOfTheWholeFloatTensors) {
  const std::pair<const char*, const char*> known[] = {{"SmolLM2-135M-Instruct.Q4_1.gguf", "10c68eea3b8290c4"},
                                                       {"gemma-3-270m-Q4_K_M.gguf", "729704caa62202ff"}};
  for (const auto& [name, fingerprint] : known) {
    E2LLM_REQUIRE_REAL_MODEL(path, name);
    EXPECT_EQ(identify_base_model("decoder", path, *open_weights(path), {}).weight_fingerprint, fingerprint) << name;
  }
}

TEST(CheckpointJson, ParsesWhatItFormatsAndNamesTheBadField) {
  CheckpointJson c;
  c.step = 7;
  c.config = {{"model", {{"chunk_size", 30}}}};
  c.base_models = {{"decoder", "/m/dec", "0123456789abcdef", "fedcba9876543210"}};
  c.optimizer_steps = {{"adapter.fc1.weight", 7}};
  c.data_rng_state = "1 2 3";
  const std::string text = format_checkpoint_json(c);
  const CheckpointJson back = parse_checkpoint_json(text, "ck.json");
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.config, c.config);
  ASSERT_EQ(back.base_models.size(), 1u);
  EXPECT_TRUE(back.base_models[0].same_model(c.base_models[0]));
  EXPECT_EQ(back.optimizer_steps, c.optimizer_steps);
  EXPECT_EQ(format_checkpoint_json(back), text);

  auto error_of = [](const std::string& json) {
    try {
      parse_checkpoint_json(json, "ck.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  const std::string head = R"({"format": "e2llm-checkpoint", "format_version": 1, )";
  EXPECT_NE(error_of("{").find("ck.json: invalid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1e999999]").find("ck.json: invalid JSON"), std::string::npos);  // nlohmann's out_of_range
  EXPECT_NE(error_of(R"({"format": 3, "step": 1})").find("ck.json"), std::string::npos);
  EXPECT_NE(error_of(R"({"format": "e2llm-checkpoint", "format_version": 2, "step": 1})").find("format_version 2"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"("step": -1})").find("'step'"), std::string::npos);
  EXPECT_NE(error_of(head + R"("step": "12"})").find("'step'"), std::string::npos);
  EXPECT_NE(error_of(head + R"("step": 1, "base_models": [{"role": 1}]})").find("base_models[0]"), std::string::npos);
  EXPECT_NE(error_of(head + R"("step": 1, "optimizer_steps": {"w": 1.5}})").find("optimizer_steps.w"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"("step": 1, "data_rng_state": 5})").find("data_rng_state"), std::string::npos);
  EXPECT_EQ(error_of(head + R"("step": 1})"), "(accepted)");
}
