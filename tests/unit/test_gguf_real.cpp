// Real GGUF models against what gguf-py and transformers make of them
// (tests/golden/gguf/real_models.json, from scripts/golden/make_gguf_golden.py).
// Skipped when the models are not fetched.
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "e2llm/io/fs.h"
#include "e2llm/io/gguf.h"
#include "test_util.h"

using namespace e2llm;

namespace {

const nlohmann::json& golden(const std::string& file) {
  static const nlohmann::json all =
      read_json_file(e2llm::test::golden_dir() + "/gguf/real_models.json");
  return all.at(file);
}

// Shape, sum, first values and strided samples, as summary() in the script.
void expect_matches(const torch::Tensor& t, const nlohmann::json& want) {
  EXPECT_EQ(t.sizes().vec(), want["shape"].get<std::vector<int64_t>>());
  torch::Tensor flat = t.to(torch::kFloat32).contiguous().reshape({-1});
  const float* p = flat.data_ptr<float>();
  const auto first = want["first"].get<std::vector<float>>();
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(p[i], first[i]) << "element " << i;
  const auto index = want["sample_index"].get<std::vector<int64_t>>();
  const auto sample = want["sample"].get<std::vector<float>>();
  for (size_t i = 0; i < index.size(); ++i) EXPECT_EQ(p[index[i]], sample[i]) << "element " << index[i];
  const double sum = flat.to(torch::kFloat64).sum().item<double>();
  const double want_sum = want["sum"].get<double>();
  EXPECT_NEAR(sum, want_sum, 1e-9 * std::max(1.0, flat.abs().to(torch::kFloat64).sum().item<double>()));
}

void check_model(const std::string& path, const std::string& file) {
  const nlohmann::json& g = golden(file);
  auto w = GgufWeights::open(path);
  const GgufFile& f = w->file();

  for (auto it = g["dequant"].begin(); it != g["dequant"].end(); ++it) {
    SCOPED_TRACE(it.key());
    EXPECT_EQ(ggml_type_traits(f.find_tensor(it.key())->type).name, (*it)["type"].get<std::string>());
    expect_matches(f.load_tensor(it.key()), *it);
  }
  for (auto it = g["hf"].begin(); it != g["hf"].end(); ++it) {
    SCOPED_TRACE(it.key());
    expect_matches(w->get(it.key()), *it);
  }
  // Every tensor transformers maps is named the same here.
  const nlohmann::json& name_map = g["name_map"];
  EXPECT_EQ(name_map.size(), f.tensors().size());
  for (const auto& t : f.tensors())
    EXPECT_EQ(gguf_to_hf_tensor_name(f.architecture(), t.name), name_map.value(t.name, "")) << t.name;

  // The config transformers derives, key for key, and the class defaults we add.
  const nlohmann::json config = gguf_to_hf_config(f);
  for (auto it = g["config"].begin(); it != g["config"].end(); ++it)
    EXPECT_EQ(config.value(it.key(), nlohmann::json()), *it) << it.key();
  for (const char* key : {"hidden_act", "hidden_activation", "attention_bias", "mlp_bias",
                          "query_pre_attn_scalar", "layer_types", "final_logit_softcapping",
                          "attn_logit_softcapping"})
    if (g["full_config"].contains(key)) {
      EXPECT_EQ(config.at(key), g["full_config"][key]) << key;
    }
}

}  // namespace

TEST(GgufReal, SmolLM2MatchesGgufPyAndTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  check_model(path, "SmolLM2-135M-Instruct.Q4_1.gguf");
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(f->get_int_array("tokenizer.ggml.token_type").size(), 49152u);
}

TEST(GgufReal, Gemma3MatchesGgufPyAndTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "gemma-3-270m-Q4_K_M.gguf");
  check_model(path, "gemma-3-270m-Q4_K_M.gguf");
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->get_float_array("tokenizer.ggml.scores").size(), 262144u);
}

TEST(GgufReal, EveryTensorOfBothModelsLoads) {
  for (const char* name : {"SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-Q4_K_M.gguf"}) {
    E2LLM_REQUIRE_REAL_MODEL(path, name);
    auto w = open_weights(path);
    for (const auto& n : w->names()) {
      torch::Tensor t = w->get(n);
      EXPECT_EQ(t.sizes().vec(), w->meta(n).shape) << n;
      EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << n;
    }
  }
}
