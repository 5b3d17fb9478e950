// e2llm inspect on small files made here and on the real fetched models.
#include <gmock/gmock.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "e2llm/io/fs.h"
#include "e2llm/io/safetensors.h"
#include "test_util.h"

using e2llm::test::run_cli;
using e2llm::test::TempDir;
using nlohmann::json;
using ::testing::HasSubstr;

namespace {

json inspect_json(const std::string& args) {
  auto r = run_cli("inspect --json " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return json::parse(r.output);
}

// A tiny model folder: two float tensors, one integer buffer, side files.
void make_model_folder(const std::string& dir) {
  e2llm::save_safetensors(dir + "/model.safetensors",
                          {{"a.weight", torch::zeros({3, 4})},
                           {"b.bias", torch::zeros({5}, torch::kFloat16)},
                           {"position_ids", torch::arange(7)}},
                          {{"format", "pt"}});
  e2llm::write_file_atomic(dir + "/config.json",
                           R"({"architectures": ["TinyModel"], "model_type": "tiny"})");
  e2llm::write_file_atomic(dir + "/generation_config.json", R"({"eos_token_id": [2, 3]})");
  e2llm::write_file_atomic(dir + "/tokenizer_config.json",
                           R"({"eos_token": "</s>", "chat_template": "{{x}}"})");
}

}  // namespace

TEST(Inspect, JsonDescribesAFolder) {
  TempDir dir;
  make_model_folder(dir.path());
  json j = inspect_json("--metadata " + dir.path());
  EXPECT_EQ(j["format"], "safetensors folder");
  EXPECT_EQ(j["architecture"], "TinyModel");
  EXPECT_EQ(j["model_type"], "tiny");
  EXPECT_EQ(j["parameters"], 3 * 4 + 5);  // the integer buffer is not a parameter
  EXPECT_EQ(j["tensor_count"], 3);
  EXPECT_EQ(j["dtypes"]["F32"]["tensors"], 1);
  EXPECT_EQ(j["dtypes"]["I64"]["elements"], 7);
  EXPECT_EQ(j["metadata"]["format"], "pt");
  EXPECT_EQ(j["generation_config"]["eos_token_ids"], json({2, 3}));
  EXPECT_EQ(j["tokenizer_config"]["eos_token"], "</s>");
  EXPECT_EQ(j["tokenizer_config"]["chat_templates"], json({"default"}));
  ASSERT_EQ(j["tensors"].size(), 3u);
  EXPECT_EQ(j["tensors"][0]["name"], "a.weight");
  EXPECT_EQ(j["tensors"][0]["shape"], json({3, 4}));
  EXPECT_EQ(j["tensors"][1]["dtype"], "F16");
}

TEST(Inspect, TextListsTensorsUnlessAskedNotTo) {
  TempDir dir;
  make_model_folder(dir.path());
  auto r = run_cli("inspect " + dir.path() + "/model.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("format       safetensors\n"));
  EXPECT_THAT(r.output, HasSubstr("architecture TinyModel"));  // config.json beside the file
  EXPECT_THAT(r.output, HasSubstr("parameters   17\n"));
  EXPECT_THAT(r.output, HasSubstr("a.weight      F32     [3, 4]"));
  auto quiet = run_cli("inspect --no-tensors " + dir.path());
  ASSERT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_THAT(quiet.output, ::testing::Not(HasSubstr("a.weight")));
  EXPECT_THAT(quiet.output, HasSubstr("generation   eos ids [2, 3]"));
  EXPECT_FALSE(inspect_json("--no-tensors " + dir.path()).contains("tensors"));
}

TEST(Inspect, HelpDescribesEveryOption) {
  auto r = run_cli("inspect --help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--json", "--no-tensors", "--metadata", "Model folder, .safetensors or .gguf file"})
    EXPECT_THAT(r.output, HasSubstr(option));
}

TEST(Inspect, RealMiniLMFolder) {
  E2LLM_REQUIRE_REAL_MODEL(dir, "all-MiniLM-L6-v2");
  json j = inspect_json("--metadata '" + dir + "'");
  // Numbers computed once with the Python safetensors package.
  EXPECT_EQ(j["format"], "safetensors folder");
  EXPECT_EQ(j["architecture"], "BertModel");
  EXPECT_EQ(j["model_type"], "bert");
  EXPECT_EQ(j["parameters"], 22713216);  // + 512 int64 position_ids = 22,713,728 elements
  EXPECT_EQ(j["tensor_count"], 104);
  EXPECT_EQ(j["dtypes"]["F32"]["tensors"], 103);
  EXPECT_EQ(j["dtypes"]["I64"]["elements"], 512);
  EXPECT_EQ(j["metadata"]["format"], "pt");
  EXPECT_EQ(j["tokenizer_config"]["model_max_length"], 512);
  bool found = false;
  for (const auto& t : j["tensors"])
    if (t["name"] == "embeddings.word_embeddings.weight") {
      EXPECT_EQ(t["shape"], json({30522, 384}));
      EXPECT_EQ(t["dtype"], "F32");
      found = true;
    }
  EXPECT_TRUE(found);
  auto text = run_cli("inspect --no-tensors '" + dir + "'");
  EXPECT_THAT(text.output, HasSubstr("parameters   22,713,216 (22.7M)"));
}

TEST(Inspect, RealSmolLM2Gguf) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  json j = inspect_json("--metadata '" + path + "'");
  // Numbers computed once with the Python gguf package (GGUFReader).
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["parameters"], 134515008);
  EXPECT_EQ(j["tensor_count"], 272);
  EXPECT_EQ(j["dtypes"]["Q4_1"]["tensors"], 210);
  EXPECT_EQ(j["dtypes"]["F32"]["tensors"], 61);
  EXPECT_EQ(j["dtypes"]["Q8_0"]["tensors"], 1);
  EXPECT_EQ(j["metadata"].size(), 33u);  // gguf-py adds 3 GGUF.* pseudo-fields
  EXPECT_EQ(j["metadata"]["general.architecture"], "llama");
  bool found = false;
  for (const auto& t : j["tensors"])
    if (t["dtype"] == "Q8_0") {  // the token embedding, shape in PyTorch order
      EXPECT_EQ(t["shape"], json({49152, 576}));
      found = true;
    }
  EXPECT_TRUE(found);
}
