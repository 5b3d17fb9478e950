#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "e2llm/core/error.h"
#include "e2llm/compress/pooling.h"
#include "test_util.h"

using namespace e2llm;
using e2llm::test::TempDir;

namespace {

// Two chunks of 7 and 2 real tokens, right-padded to 9 with garbage states.
struct Batch {
  torch::Tensor hidden = torch::randn({2, 9, 8});
  torch::Tensor mask = torch::tensor({{1, 1, 1, 1, 1, 1, 1, 0, 0}, {1, 1, 0, 0, 0, 0, 0, 0, 0}});
};

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(Pooling, MeanIgnoresPadding) {
  torch::manual_seed(1);
  Batch b;
  torch::Tensor out = mean_pool(b.hidden, b.mask);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 1, 8}));
  EXPECT_LE(max_diff(out[0][0], b.hidden[0].slice(0, 0, 7).mean(0)), 1e-6);
  EXPECT_LE(max_diff(out[1][0], b.hidden[1].slice(0, 0, 2).mean(0)), 1e-6);
  EXPECT_LE(max_diff(cls_pool(b.hidden)[1][0], b.hidden[1][0]), 0.0);
}

TEST(Pooling, SegmentsCutTheRealTokensIntoKContiguousParts) {
  torch::manual_seed(2);
  Batch b;
  torch::Tensor out = segment_mean_pool(b.hidden, b.mask, 3);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 8}));
  // 7 tokens, k = 3: [0, 2), [2, 4), [4, 7).
  EXPECT_LE(max_diff(out[0][0], b.hidden[0].slice(0, 0, 2).mean(0)), 1e-6);
  EXPECT_LE(max_diff(out[0][1], b.hidden[0].slice(0, 2, 4).mean(0)), 1e-6);
  EXPECT_LE(max_diff(out[0][2], b.hidden[0].slice(0, 4, 7).mean(0)), 1e-6);
  // 2 tokens, k = 3: [0, 1), [0, 1), [1, 2) (tokens repeat, no empty segment).
  EXPECT_LE(max_diff(out[1][0], b.hidden[1][0]), 1e-6);
  EXPECT_LE(max_diff(out[1][1], b.hidden[1][0]), 1e-6);
  EXPECT_LE(max_diff(out[1][2], b.hidden[1][1]), 1e-6);
  // k = 1 is the mean; left padding gives the same segments.
  EXPECT_LE(max_diff(segment_mean_pool(b.hidden, b.mask, 1), mean_pool(b.hidden, b.mask)), 1e-6);
  // Flipped, the real tokens come last and in reverse: h6 h5 | h4 h3 | h2 h1 h0, and h1 | h1 | h0.
  torch::Tensor flipped = segment_mean_pool(b.hidden.flip(1), b.mask.flip(1), 3);
  EXPECT_LE(max_diff(flipped[0][0], b.hidden[0].slice(0, 5, 7).mean(0)), 1e-6);
  EXPECT_LE(max_diff(flipped[0][1], b.hidden[0].slice(0, 3, 5).mean(0)), 1e-6);
  EXPECT_LE(max_diff(flipped[0][2], b.hidden[0].slice(0, 0, 3).mean(0)), 1e-6);
  EXPECT_LE(max_diff(flipped[1][0], b.hidden[1][1]), 1e-6);
  EXPECT_LE(max_diff(flipped[1][1], b.hidden[1][1]), 1e-6);
  EXPECT_LE(max_diff(flipped[1][2], b.hidden[1][0]), 1e-6);
}

TEST(Pooling, AttentionPoolingIgnoresPaddingAndTrains) {
  torch::manual_seed(3);
  Batch b;
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kAttention, .k = 4, .heads = 2}, 8);
  torch::Tensor out = pooler->forward(b.hidden, b.mask);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 4, 8}));
  // The same chunk with different (or no) padding pools the same.
  torch::Tensor alone = pooler->forward(b.hidden.slice(0, 1, 2).slice(1, 0, 2), b.mask.slice(0, 1, 2).slice(1, 0, 2));
  EXPECT_LE(max_diff(alone[0], out[1]), 1e-5);
  torch::Tensor garbage = b.hidden.clone();
  garbage.slice(1, 7).fill_(100.0);
  EXPECT_LE(max_diff(pooler->forward(garbage, b.mask)[0], out[0]), 1e-5);
  // Trainable, with the documented parameter names.
  std::set<std::string> names;
  for (const auto& p : pooler->named_parameters()) names.insert(p.key());
  EXPECT_TRUE(names.count("pma.seeds") && names.count("pma.fc_q.weight") && names.count("pma.ln1.bias"));
  out.sum().backward();
  EXPECT_GT(pooler->pma->seeds.grad().abs().sum().item<double>(), 0.0);
}

TEST(Pooling, SaveAndLoadRoundTrip) {
  torch::manual_seed(4);
  Batch b;
  TempDir dir;
  Pooler pooler(PoolingConfig{.mode = PoolingMode::kAttention, .k = 2, .heads = 4, .normalize = true}, 8);
  save_pooler(pooler, dir.file("pooler.safetensors"));
  Pooler loaded = load_pooler(dir.file("pooler.safetensors"));
  EXPECT_EQ(loaded->config().k, 2);
  EXPECT_TRUE(loaded->config().normalize);
  torch::NoGradGuard no_grad;
  torch::Tensor out = loaded->forward(b.hidden, b.mask);
  EXPECT_LE(max_diff(out, pooler->forward(b.hidden, b.mask)), 0.0);
  EXPECT_LE(max_diff(out.norm(2, -1), torch::ones({2, 2})), 1e-5);  // normalized
  Pooler mean(PoolingConfig{.mode = PoolingMode::kMean}, 8);
  save_pooler(mean, dir.file("mean.safetensors"));
  EXPECT_EQ(load_pooler(dir.file("mean.safetensors"))->config().mode, PoolingMode::kMean);
}

TEST(Pooling, ConfigErrors) {
  EXPECT_THROW(Pooler(PoolingConfig{.mode = PoolingMode::kCls, .k = 2}, 8), Error);
  EXPECT_THROW(Pooler(PoolingConfig{.mode = PoolingMode::kAttention, .k = 2, .heads = 3}, 8), Error);
  EXPECT_THROW(parse_pooling_mode("max"), Error);
  EXPECT_EQ(parse_pooling_mode("segments"), PoolingMode::kSegments);
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << j.dump();
}

TEST(Pooling, ReadsSentenceTransformersSettings) {
  TempDir dir;
  EXPECT_FALSE(read_sentence_transformers_pooling(dir.path()).has_value());
  write_json(dir.file("modules.json"),
             {{{"idx", 0}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}},
              {{"idx", 1}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}},
              {{"idx", 2}, {"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}}});
  write_json(dir.file("1_Pooling/config.json"), {{"pooling_mode_cls_token", true}, {"pooling_mode_mean_tokens", false}});
  auto p = read_sentence_transformers_pooling(dir.path());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->mode, PoolingMode::kCls);
  EXPECT_TRUE(p->normalize);
  write_json(dir.file("1_Pooling/config.json"), {{"pooling_mode_max_tokens", true}});
  EXPECT_THROW(read_sentence_transformers_pooling(dir.path()), Error);
}

}  // namespace
