#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>

#include "e2llm/encoder/encoder.h"
#include "e2llm/core/error.h"
#include "e2llm/io/fs.h"
#include "e2llm/nn/lora.h"
#include "e2llm/io/safetensors.h"
#include "test_e2llm_models.h"
#include "test_util.h"
#include "support/random_models.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

std::string golden(const std::string& name) { return test::golden_dir() + "/encoder/" + name; }

// Max |a - b| over the real (mask = 1) tokens of [B, T, H] states.
double masked_max_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& mask) {
  torch::Tensor m = mask.to(torch::kBool).unsqueeze(-1);
  return ((a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs() * m).max().item<double>();
}

std::vector<std::vector<int64_t>> rows_of(const torch::Tensor& ids, const torch::Tensor& mask) {
  std::vector<std::vector<int64_t>> rows;
  for (int64_t r = 0; r < ids.size(0); ++r) {
    const int64_t n = mask[r].sum().item<int64_t>();
    torch::Tensor row = ids[r].slice(0, 0, n).contiguous();
    rows.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + n);
  }
  return rows;
}

class GoldenFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenFamily, HiddenStatesMatchTransformers) {
  auto encoder = TextEncoder::load(golden(GetParam()));
  auto expected = SafeTensorsFile::open(golden(GetParam()) + "/expected.safetensors");
  torch::Tensor ids = expected->get("input_ids"), mask = expected->get("attention_mask");
  torch::NoGradGuard no_grad;
  torch::Tensor hidden = encoder.forward(ids, mask);
  ASSERT_EQ(hidden.sizes(), expected->get("last_hidden_state").sizes());
  EXPECT_LE(masked_max_diff(hidden, expected->get("last_hidden_state"), mask), 1e-4);
}

TEST_P(GoldenFamily, PaddingDoesNotChangeAChunk) {
  auto encoder = TextEncoder::load(golden(GetParam()));
  auto expected = SafeTensorsFile::open(golden(GetParam()) + "/expected.safetensors");
  torch::Tensor ids = expected->get("input_ids"), mask = expected->get("attention_mask");
  torch::NoGradGuard no_grad;
  torch::Tensor batched = encoder.forward(ids, mask);
  auto rows = rows_of(ids, mask);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto [one_ids, one_mask] = encoder.pad_batch(rows, {r});
    torch::Tensor alone = encoder.forward(one_ids, one_mask)[0];
    const int64_t n = static_cast<int64_t>(rows[r].size());
    EXPECT_LE((alone - batched[r].slice(0, 0, n)).abs().max().item<double>(), 1e-5) << "row " << r;
  }
}

TEST_P(GoldenFamily, Bfloat16StaysCloseToFloat32) {
  auto f32 = TextEncoder::load(golden(GetParam()));
  auto bf16 = TextEncoder::load(golden(GetParam()), {torch::kBFloat16, torch::kCPU});
  auto expected = SafeTensorsFile::open(golden(GetParam()) + "/expected.safetensors");
  torch::Tensor ids = expected->get("input_ids"), mask = expected->get("attention_mask");
  torch::NoGradGuard no_grad;
  torch::Tensor a = f32.forward(ids, mask), b = bf16.forward(ids, mask);
  EXPECT_EQ(b.scalar_type(), torch::kBFloat16);
  torch::Tensor cos = torch::cosine_similarity(a, b.to(torch::kFloat32), -1);  // per token
  EXPECT_GE(cos.masked_select(mask.to(torch::kBool)).min().item<double>(), 0.99);
}

INSTANTIATE_TEST_SUITE_P(Encoder, GoldenFamily, ::testing::Values("bert", "xlm-roberta", "gte"));

TEST(EncoderConfig, ValidationNamesFileAndField) {
  auto config_error = [](nlohmann::json j) {
    try {
      EncoderConfig::from_json(j, "dir/config.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  nlohmann::json good = tiny_encoder_config(EncoderFamily::kBert).to_json();
  EXPECT_NO_THROW(EncoderConfig::from_json(good, "x"));
  auto bad = good;
  bad["num_attention_heads"] = 5;
  EXPECT_THAT(config_error(bad), ::testing::AllOf(::testing::HasSubstr("dir/config.json"),
                                                  ::testing::HasSubstr("num_attention_heads")));
  bad = good;
  bad["hidden_act"] = "tanhh";
  EXPECT_THAT(config_error(bad), ::testing::HasSubstr("hidden_act"));
  bad = good;
  bad["model_type"] = "gpt2";
  EXPECT_THAT(config_error(bad), ::testing::HasSubstr("model_type"));
  bad = good;
  bad.erase("vocab_size");
  EXPECT_THAT(config_error(bad), ::testing::HasSubstr("vocab_size"));
  bad = good;
  bad["hidden_size"] = "big";
  EXPECT_THAT(config_error(bad), ::testing::HasSubstr("wrong type"));
  bad = good;
  bad["intermediate_size"] = -3;
  EXPECT_THAT(config_error(bad), ::testing::HasSubstr("intermediate_size"));
}

TEST(EncoderConfig, ReadsGteRopeScaling) {
  auto c = EncoderConfig::load(golden("gte") + "/config.json");
  EXPECT_EQ(c.family, EncoderFamily::kGte);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->factor, 2.0);
  EXPECT_EQ(c.position_embedding_type, "rope");
  EXPECT_EQ(EncoderConfig::load(golden("xlm-roberta") + "/config.json").position_offset(), 2);
}

TEST(Batching, BucketsUnderTheTokenBudgetAndCoversEveryChunkOnce) {
  std::vector<int64_t> lengths = {5, 100, 7, 64, 3, 100, 50, 1, 9};
  BatchingOptions options{.max_batch_tokens = 200, .max_batch_size = 3};
  auto batches = plan_batches(lengths, options);
  std::multiset<size_t> seen;
  for (const auto& b : batches) {
    int64_t longest = 0;
    for (size_t i : b) longest = std::max(longest, lengths[i]), seen.insert(i);
    EXPECT_LE(static_cast<int64_t>(b.size()), 3);
    EXPECT_TRUE(b.size() == 1 || longest * static_cast<int64_t>(b.size()) <= 200);
  }
  EXPECT_EQ(seen, (std::multiset<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(batches.front().front(), 1u);  // longest first
  EXPECT_THROW(plan_batches(lengths, {.max_batch_tokens = 0}), Error);
}

TEST(Encoder, EncodeTokensRestoresInputOrderAndMatchesSingleChunks) {
  auto encoder = TextEncoder::load(golden("bert"));
  std::vector<std::vector<int64_t>> chunks = {{5, 6, 7}, {9, 10, 11, 12, 13, 14, 15}, {20}, {30, 31, 32, 33}};
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kMean}, encoder.hidden_size());
  torch::NoGradGuard no_grad;
  torch::Tensor all = encoder.encode_tokens(chunks, pooler, {.max_batch_tokens = 14, .max_batch_size = 8});
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{4, 1, 32}));
  for (size_t i = 0; i < chunks.size(); ++i) {
    torch::Tensor one = encoder.encode_tokens({chunks[i]}, pooler);
    EXPECT_LE((one[0] - all[i]).abs().max().item<double>(), 1e-5) << "chunk " << i;
  }
  EXPECT_THROW(encoder.encode_tokens({{}}, pooler), Error);
  EXPECT_THROW(encoder.encode_tokens({{1000}}, pooler), Error);
  EXPECT_THROW(encoder.encode_tokens({std::vector<int64_t>(81, 5)}, pooler), Error);
}

TEST(Encoder, EncodeTokensReportsProgressAndStopsWhenTheCallbackThrows) {
  auto encoder = TextEncoder::load(golden("bert"));
  std::vector<std::vector<int64_t>> chunks(7, std::vector<int64_t>{5, 6, 7, 8});
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kMean}, encoder.hidden_size());
  torch::NoGradGuard no_grad;
  std::vector<size_t> progress;
  BatchingOptions batching{.max_batch_tokens = 8, .max_batch_size = 8};  // two chunks per pass
  batching.after_batch = [&](size_t done, size_t total) {
    EXPECT_EQ(total, 7u);
    progress.push_back(done);
  };
  encoder.encode_tokens(chunks, pooler, batching);
  EXPECT_EQ(progress, (std::vector<size_t>{2, 4, 6, 7}));
  batching.after_batch = [](size_t done, size_t) {
    if (done >= 4) throw std::runtime_error("cancelled");
  };
  EXPECT_THROW(encoder.encode_tokens(chunks, pooler, batching), std::runtime_error);
}

class WriterFamily : public ::testing::TestWithParam<EncoderFamily> {};

TEST_P(WriterFamily, RandomModelLoadsWithHuggingFaceModulePaths) {
  TempDir dir;
  const EncoderConfig config = tiny_encoder_config(GetParam());
  write_random_encoder(dir.path(), config, 3);
  auto encoder = TextEncoder::load(dir.path());
  auto [ids, mask] = encoder.pad_batch({{3, 4, 5, 6}, {7, 8}}, {0, 1});
  torch::Tensor h = encoder.forward(ids, mask);
  EXPECT_EQ(h.sizes(), (std::vector<int64_t>{2, 4, 32}));
  EXPECT_TRUE(torch::isfinite(h).all().item<bool>());
  // Every weight of the file is a parameter of the module under the same name
  // (the writer adds BERT's unused pooler).
  auto file = SafeTensorsFile::open(dir.file("model.safetensors"));
  std::set<std::string> params;
  for (const auto& p : encoder.module().named_parameters()) params.insert(p.key());
  for (const auto& name : file->names()) {
    if (name.rfind("pooler.", 0) == 0) continue;
    EXPECT_TRUE(params.count(name)) << name;
  }
  EXPECT_EQ(params.size(), file->names().size() - (GetParam() == EncoderFamily::kGte ? 0 : 2));
}

TEST_P(WriterFamily, LoraKeysFollowPeftAndTrainThroughTheEncoder) {
  TempDir dir;
  write_random_encoder(dir.path(), tiny_encoder_config(GetParam()), 4);
  auto encoder = TextEncoder::load(dir.path());
  auto [ids, mask] = encoder.pad_batch({{3, 4, 5, 6, 7}, {8, 9}}, {0, 1});
  torch::Tensor before = encoder.forward(ids, mask).detach();
  nn::LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  auto wrapped = nn::apply_lora(encoder.module(), lora);
  const size_t per_layer = GetParam() == EncoderFamily::kGte ? 4 : 6;
  EXPECT_EQ(wrapped.size(), 2 * per_layer);
  auto state = nn::lora_state(encoder.module());
  const std::string probe = GetParam() == EncoderFamily::kGte
                                ? "base_model.model.encoder.layer.0.attention.qkv_proj.lora_A.weight"
                                : "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight";
  EXPECT_TRUE(state.count(probe)) << probe;
  // B = 0 at init: the adapter starts as the identity.
  torch::Tensor after = encoder.forward(ids, mask);
  EXPECT_LE((after - before).abs().max().item<double>(), 1e-6);
  // Gradients reach the adapters (and the PMA) through encode_tokens.
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kAttention, .k = 2, .heads = 4}, 32);
  torch::Tensor pooled = encoder.encode_tokens({{3, 4, 5}, {6, 7, 8, 9}}, pooler);
  pooled.pow(2).sum().backward();
  auto trainable = nn::trainable_parameters(encoder.module());
  EXPECT_EQ(trainable.size(), 2 * wrapped.size());
  double grad_norm = 0;
  for (auto& p : trainable) grad_norm += p.grad().defined() ? p.grad().norm().item<double>() : 0.0;
  EXPECT_GT(grad_norm, 0.0);
  EXPECT_TRUE(pooler->pma->seeds.grad().defined());
}

INSTANTIATE_TEST_SUITE_P(Encoder, WriterFamily,
                         ::testing::Values(EncoderFamily::kBert, EncoderFamily::kXlmRoberta, EncoderFamily::kGte));

TEST(EncoderRealModel, MiniLMMatchesSentenceTransformers) {
  E2LLM_REQUIRE_REAL_MODEL(path, "all-MiniLM-L6-v2");
  auto encoder = TextEncoder::load(path);
  ASSERT_TRUE(encoder.default_pooling().has_value());
  EXPECT_EQ(encoder.default_pooling()->mode, PoolingMode::kMean);
  EXPECT_TRUE(encoder.default_pooling()->normalize);
  auto expected = SafeTensorsFile::open(golden("all-MiniLM-L6-v2") + "/expected.safetensors");
  torch::Tensor flat = expected->get("token_ids").to(torch::kLong), lengths = expected->get("lengths");
  std::vector<std::vector<int64_t>> chunks;
  int64_t at = 0;
  for (int64_t i = 0; i < lengths.size(0); ++i) {
    const int64_t n = lengths[i].item<int64_t>();
    torch::Tensor row = flat.slice(0, at, at + n).contiguous();
    chunks.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + n);
    at += n;
  }
  ASSERT_GE(chunks.size(), 100u);
  Pooler pooler(*encoder.default_pooling(), encoder.hidden_size());
  torch::InferenceMode inference;
  torch::Tensor got = encoder.encode_tokens(chunks, pooler, {.max_batch_tokens = 4096}).squeeze(1);
  torch::Tensor cos = torch::cosine_similarity(got, expected->get("embeddings"), -1);
  EXPECT_GE(cos.min().item<double>(), 0.9999);
}

}  // namespace

namespace {

TEST(CliEmbed, EmbedsIdLinesInOrderAndMatchesTheLibrary) {
  TempDir dir;
  std::ofstream(dir.file("in.jsonl")) << "{\"ids\": [5, 6, 7, 8]}\n\n{\"ids\": [9, 10]}\n{\"ids\": [11, 12, 13]}\n";
  auto r = test::run_cli("--threads 1 embed --model " + golden("bert") + " --pooling mean --normalize --batch-size 2",
                         dir.file("in.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  std::vector<std::vector<float>> got;
  for (std::string line; std::getline(lines, line);) got.push_back(nlohmann::json::parse(line)["embedding"]);
  ASSERT_EQ(got.size(), 3u);
  auto encoder = TextEncoder::load(golden("bert"));
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kMean, .normalize = true}, 32);
  torch::NoGradGuard no_grad;
  torch::Tensor want = encoder.encode_tokens({{5, 6, 7, 8}, {9, 10}, {11, 12, 13}}, pooler);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_LE((torch::tensor(got[i]) - want[i][0]).abs().max().item<double>(), 1e-5);
}

TEST(CliEmbed, KeepsSentenceTransformersMaxSeqLengthUnlessTold) {
  TempDir dir;
  const std::string model = dir.file("model");
  std::filesystem::create_directories(model);
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::copy_file(golden("bert") + "/" + f, model + "/" + f);
  write_file_atomic(model + "/tokenizer.json", test::word_level_tokenizer_json({"a", "b", "c", "d", "e", "f"}));
  write_file_atomic(model + "/sentence_bert_config.json", "{\"max_seq_length\": 4, \"do_lower_case\": false}");
  // Equal in their first two words only: [CLS] a b [SEP] once cut to 4 tokens.
  std::ofstream(dir.file("in.jsonl")) << "{\"text\": \"a b c d\"}\n{\"text\": \"a b e f\"}\n";
  auto embeddings = [&](const std::string& flags) {
    auto r = test::run_cli("embed --model " + model + flags, dir.file("in.jsonl"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::istringstream lines(r.output);
    std::vector<torch::Tensor> out;
    for (std::string line; std::getline(lines, line);)
      out.push_back(torch::tensor(nlohmann::json::parse(line)["embedding"].get<std::vector<float>>()));
    return out;
  };
  auto cut = embeddings("");
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_TRUE(torch::equal(cut[0], cut[1]));
  auto whole = embeddings(" --max-tokens 6");
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_GT((whole[0] - whole[1]).abs().max().item<double>(), 1e-3);
  auto r = test::run_cli("embed --model " + model + " --max-tokens 100000", dir.file("in.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("exceeds the model's"), std::string::npos) << r.output;
}

TEST(CliEmbed, SegmentsGiveKVectorsAndBadInputFailsWithReason) {
  TempDir dir;
  std::ofstream(dir.file("in.jsonl")) << "{\"ids\": [5, 6, 7, 8, 9]}\n";
  auto r = test::run_cli("embed --model " + golden("gte") + " --pooling segments --k 2", dir.file("in.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["embedding"].size(), 2u);
  EXPECT_EQ(j["embedding"][0].size(), 32u);
  std::ofstream(dir.file("bad.jsonl")) << "{\"ids\": [5]}\nnot json\n";
  r = test::run_cli("embed --model " + golden("bert"), dir.file("bad.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("e2llm: error: stdin line 2"), std::string::npos) << r.output;
  r = test::run_cli("embed --model " + dir.path(), dir.file("in.jsonl"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

// Bad "ids" lines are refused by line, before any batch runs (the golden BERT:
// vocabulary 128, 80 positions).
TEST(CliEmbed, BadIdsNameTheirLine) {
  TempDir dir;
  std::string long_ids = "[1";
  for (int i = 0; i < 80; ++i) long_ids += ", 1";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "stdin line 2: 'ids' must be a non-empty array of integers"},
      {"[5, \"x\"]", "stdin line 2: 'ids' item 1 is not an integer"},
      {"[5, 128]", "stdin line 2: id 128 is outside the model's vocabulary of 128"},
      {"[-1]", "stdin line 2: id -1 is outside the model's vocabulary of 128"},
      {long_ids + "]", "stdin line 2: 81 ids, more than the model's 80 positions"}};
  for (const auto& [ids, message] : cases) {
    std::ofstream(dir.file("in.jsonl")) << "{\"ids\": [5, 6]}\n{\"ids\": " << ids << "}\n";
    auto r = test::run_cli("embed --model " + golden("bert"), dir.file("in.jsonl"));
    test::expect_one_line_error(r, message, ids);
  }
}

}  // namespace
